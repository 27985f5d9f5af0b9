#include "extract_support.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/sha256.hpp"

#include <doctest/doctest.h>

#include <sys/sysmacros.h>

using namespace lcloud::test::image;
using lcloud::runtime::image::Compression;
using lcloud::runtime::image::sha256_digest;
using lcloud::test::TempDir;
namespace fs = std::filesystem;

namespace {

// VFS_CAP_REVISION_2 with the effective flag, permitting CAP_NET_RAW (13).
const std::string net_raw_capability("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00"
                                     "\x00\x00\x00\x00\x00\x00",
                                     20);

std::vector<Entry> rich_layer() {
    Entry su = file("bin/su", "#!su\n", 04755);
    Entry ping = file("bin/ping", "ping", 0755);
    ping.xattrs = {{"security.capability", net_raw_capability}};
    Entry notes = file("home/user/notes", "secret", 0600);
    notes.uid = notes.gid = 1000;
    notes.xattrs = {{"user.comment", "hi"}};
    Entry home = dir("home/user", 0700);
    home.uid = home.gid = 1000;
    home.mtime = 1'500'000'000;
    Entry etc = dir("etc", 0751);
    etc.mtime = 1'400'000'000;
    Entry overlay_xattr = file("etc/redirected", "x");
    overlay_xattr.xattrs = {{"trusted.overlay.redirect", "/elsewhere"}};
    Entry link = symlink_to("bin/sh", "/bin/busybox");
    link.uid = 7;
    return {etc,
            file("etc/hostname", "box\n"),
            su,
            ping,
            notes,
            home,
            link,
            symlink_to("etc/escape", "../../../../../etc/passwd"),
            hardlink("bin/su-again", "bin/su"),
            node("dev/null", AE_IFCHR, 0666, 1, 3),
            node("dev/loop0", AE_IFBLK, 0660, 7, 0),
            node("run/fifo", AE_IFIFO, 0620),
            dir("tmp", 01777),
            file("./etc/./motd", "hello\n"),
            file("etc/na\xc3\xafve", "utf-8 name"),
            overlay_xattr};
}

} // namespace

TEST_CASE("extract_layer keeps types, modes, owners, times, xattrs and links, any compression") {
    const std::string tar = make_tar(rich_layer());
    for (Filter filter : {Filter::none, Filter::gzip, Filter::zstd}) {
        INFO("filter " << static_cast<int>(filter));
        TempDir temp;
        const fs::path layer = temp.path() / "layer";
        const std::string blob = filter == Filter::none ? tar : compress(tar, filter);
        const auto digests = extract_blob(blob, layer);

        CHECK(digests.diff_id == sha256_digest(tar));
        CHECK(digests.tar_size == tar.size());
        CHECK(digests.blob_digest == sha256_digest(blob));
        CHECK(digests.blob_size == blob.size());
        CHECK(digests.compression == (filter == Filter::none   ? Compression::none
                                      : filter == Filter::gzip ? Compression::gzip
                                                               : Compression::zstd));

        CHECK(read_file(layer / "etc/hostname") == "box\n");
        CHECK(read_file(layer / "etc/motd") == "hello\n");
        CHECK(read_file(layer / "etc/na\xc3\xafve") == "utf-8 name");
        CHECK((lstat_of(layer / "etc").st_mode & 07777) == 0751);
        CHECK(lstat_of(layer / "etc").st_mtime == 1'400'000'000);
        CHECK(lstat_of(layer / "etc/hostname").st_mtime == 1'600'000'000);

        const struct stat su = lstat_of(layer / "bin/su");
        CHECK((su.st_mode & 07777) == 04755);
        CHECK(su.st_nlink == 2);
        CHECK(lstat_of(layer / "bin/su-again").st_ino == su.st_ino);
        CHECK((lstat_of(layer / "bin").st_mode & 07777) == 0755);
        CHECK(xattr_of(layer / "bin/ping", "security.capability") == net_raw_capability);

        const struct stat notes = lstat_of(layer / "home/user/notes");
        CHECK(notes.st_uid == 1000);
        CHECK(notes.st_gid == 1000);
        CHECK((notes.st_mode & 07777) == 0600);
        CHECK(xattr_of(layer / "home/user/notes", "user.comment") == "hi");
        const struct stat home = lstat_of(layer / "home/user");
        CHECK(home.st_uid == 1000);
        CHECK((home.st_mode & 07777) == 0700);
        CHECK(home.st_mtime == 1'500'000'000);

        CHECK(fs::read_symlink(layer / "bin/sh") == "/bin/busybox");
        CHECK(lstat_of(layer / "bin/sh").st_uid == 7);
        CHECK(fs::read_symlink(layer / "etc/escape") == "../../../../../etc/passwd");

        const struct stat null = lstat_of(layer / "dev/null");
        CHECK(S_ISCHR(null.st_mode));
        CHECK(null.st_rdev == makedev(1, 3));
        CHECK((null.st_mode & 07777) == 0666);
        const struct stat loop = lstat_of(layer / "dev/loop0");
        CHECK(S_ISBLK(loop.st_mode));
        CHECK(loop.st_rdev == makedev(7, 0));
        const struct stat fifo = lstat_of(layer / "run/fifo");
        CHECK(S_ISFIFO(fifo.st_mode));
        CHECK((fifo.st_mode & 07777) == 0620);
        CHECK((lstat_of(layer / "tmp").st_mode & 07777) == 01777);
        // overlayfs's own xattrs would redirect lookups: never taken from an archive.
        CHECK(xattr_of(layer / "etc/redirected", "trusted.overlay.redirect") == "<none>");
    }
}

TEST_CASE("extract_layer turns OCI whiteouts into overlayfs whiteouts and opaque directories") {
    TempDir temp;
    const fs::path layer = temp.path() / "layer";
    extract_blob(make_tar({dir("etc"), file("etc/.wh.passwd", ""), file(".wh.gone", ""),
                           dir("var/cache"), file("var/cache/.wh..wh..opq", ""),
                           file("var/cache/kept", "new"), file(".wh..wh.plnk", "")}),
                 layer);

    for (const char* hidden : {"etc/passwd", "gone"}) {
        INFO(hidden);
        const struct stat st = lstat_of(layer / hidden);
        CHECK(S_ISCHR(st.st_mode));
        CHECK(st.st_rdev == makedev(0, 0));
        CHECK(st.st_uid == 0);
        CHECK(st.st_gid == 0);
    }
    CHECK_FALSE(fs::exists(fs::symlink_status(layer / "etc/.wh.passwd")));
    CHECK(xattr_of(layer / "var/cache", "trusted.overlay.opaque") == "y");
    CHECK(xattr_of(layer / "var", "trusted.overlay.opaque") == "<none>");
    CHECK_FALSE(fs::exists(fs::symlink_status(layer / "var/cache/.wh..wh..opq")));
    CHECK(read_file(layer / "var/cache/kept") == "new");
    CHECK_FALSE(fs::exists(fs::symlink_status(layer / ".wh..wh.plnk")));
    CHECK_FALSE(fs::exists(fs::symlink_status(layer / "wh.plnk")));
}

TEST_CASE("extract_layer: later entries replace earlier files, as tar does") {
    TempDir temp;
    const fs::path layer = temp.path() / "layer";
    const fs::path outside = temp.path() / "outside";
    extract_blob(
        make_tar({file("a", "first"), file("a", "second"), symlink_to("b", outside.string()),
                  file("b", "regular now"), file("c", "file"), dir("c")}),
        layer);
    CHECK(read_file(layer / "a") == "second");
    CHECK(fs::is_regular_file(fs::symlink_status(layer / "b")));
    CHECK(read_file(layer / "b") == "regular now");
    CHECK(fs::is_directory(fs::symlink_status(layer / "c")));
    CHECK_FALSE(fs::exists(outside));
}

TEST_CASE("extract_layer: an empty tar and a tar with only end blocks are empty layers") {
    TempDir temp;
    const auto empty = extract_blob(make_tar({}), temp.path() / "a");
    CHECK(listing(temp.path() / "a").empty());
    CHECK(empty.diff_id == sha256_digest(make_tar({})));
    const auto gzip = extract_blob(compress(make_tar({}), Filter::gzip), temp.path() / "b");
    CHECK(gzip.diff_id == empty.diff_id);
    const auto zstd = extract_blob(make_tar({file("a", "x")}, Filter::zstd), temp.path() / "c");
    CHECK(read_file(temp.path() / "c/a") == "x");
}
