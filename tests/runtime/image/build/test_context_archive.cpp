// A build context packed to cross into the VM: .dockerignore honoured, links kept as links,
// nothing that leads out of the context, the same tree giving the same bytes.
#include "common/fd.hpp"
#include "runtime/image/build/context_archive.hpp"
#include "support/temp_dir.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sys/stat.h>

using namespace lcloud;
namespace fs = std::filesystem;
namespace build = lcloud::runtime::image::build;

namespace {

struct Packed {
    build::PackedContext result;
    // path -> "file:<content>", "dir", "link:<target>"
    std::map<std::string, std::string> entries;
};

Packed pack(const fs::path& context, const fs::path& containerfile, const fs::path& out) {
    Packed packed;
    {
        const Fd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        REQUIRE(fd);
        packed.result = build::pack_context(context, containerfile, fd.get());
    }
    CHECK(fs::file_size(out) == packed.result.size);
    archive* reader = archive_read_new();
    archive_read_support_format_tar(reader);
    REQUIRE(archive_read_open_filename(reader, out.c_str(), 65536) == ARCHIVE_OK);
    archive_entry* entry = nullptr;
    while (archive_read_next_header(reader, &entry) == ARCHIVE_OK) {
        const std::string path = archive_entry_pathname(entry);
        CHECK(archive_entry_uid(entry) == 0);
        CHECK(archive_entry_gid(entry) == 0);
        const auto type = archive_entry_filetype(entry);
        if (type == AE_IFDIR) {
            packed.entries[path] = "dir";
        } else if (type == AE_IFLNK) {
            packed.entries[path] = std::string("link:") + archive_entry_symlink(entry);
        } else {
            REQUIRE(type == AE_IFREG);
            std::string content(static_cast<size_t>(archive_entry_size(entry)), '\0');
            archive_read_data(reader, content.data(), content.size());
            packed.entries[path] = "file:" + content;
        }
    }
    archive_read_free(reader);
    return packed;
}

void write(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
}

} // namespace

TEST_CASE("context archive: what .dockerignore leaves, under context/, with the Containerfile") {
    test::TempDir dir;
    const fs::path context = dir.path() / "app";
    write(context / "main.sh", "echo hi\n");
    write(context / "lib" / "util.sh", "util\n");
    write(context / "secret.env", "TOKEN=1\n");
    write(context / "build" / "junk.o", "junk");
    write(context / "build" / "keep.txt", "kept\n");
    write(context / ".git" / "HEAD", "ref\n");
    write(context / ".dockerignore", "secret.env\n.git\nbuild\n!build/keep.txt\n.dockerignore\n");
    // Links stay links, whatever they point at; they are never followed out of the context.
    fs::create_symlink("/etc/passwd", context / "passwd");
    fs::create_symlink("../outside", context / "up");
    write(dir.path() / "outside" / "private", "not in the context\n");
    REQUIRE(::mkfifo((context / "pipe").c_str(), 0600) == 0);
    // A Containerfile outside the context goes along as "Containerfile".
    write(dir.path() / "files" / "app.Containerfile", "FROM base\nCOPY . /app\n");

    const auto packed =
        pack(context, dir.path() / "files" / "app.Containerfile", dir.path() / "one.tar");
    const auto& entries = packed.entries;
    for (const auto& [path, what] : entries) {
        INFO(path);
        CHECK((path == "Containerfile" || path == "context" || path.starts_with("context/")));
        CHECK(path.find("..") == std::string::npos);
        CHECK(path.front() != '/');
    }
    CHECK(entries.at("Containerfile") == "file:FROM base\nCOPY . /app\n");
    CHECK(entries.at("context/main.sh") == "file:echo hi\n");
    CHECK(entries.at("context/lib/util.sh") == "file:util\n");
    CHECK(entries.at("context/build/keep.txt") == "file:kept\n");
    CHECK(entries.at("context/passwd") == "link:/etc/passwd");
    CHECK(entries.at("context/up") == "link:../outside");
    // The builder in the VM applies the same rules, so it needs them even when they exclude
    // themselves.
    CHECK(entries.count("context/.dockerignore") == 1);
    CHECK(entries.count("context/secret.env") == 0);
    CHECK(entries.count("context/build/junk.o") == 0);
    CHECK(entries.count("context/.git/HEAD") == 0);
    CHECK(entries.count("context/.git") == 0);
    CHECK(entries.count("context/pipe") == 0);
    for (const auto& [path, what] : entries)
        CHECK(what.find("not in the context") == std::string::npos);
    CHECK(packed.result.files == 4); // main.sh, util.sh, keep.txt and .dockerignore
    CHECK(packed.result.digest.starts_with("sha256:"));

    // The same tree, the same bytes; a changed file, another digest.
    const auto again =
        pack(context, dir.path() / "files" / "app.Containerfile", dir.path() / "two.tar");
    CHECK(again.result.digest == packed.result.digest);
    const auto mtime = fs::last_write_time(context / "main.sh");
    write(context / "main.sh", "echo HI\n");
    fs::last_write_time(context / "main.sh", mtime);
    const auto changed =
        pack(context, dir.path() / "files" / "app.Containerfile", dir.path() / "three.tar");
    CHECK(changed.result.digest != packed.result.digest);
    // An excluded file's change is not the build's business.
    write(context / "secret.env", "TOKEN=2\n");
    CHECK(pack(context, dir.path() / "files" / "app.Containerfile", dir.path() / "four.tar")
              .result.digest == changed.result.digest);
}
