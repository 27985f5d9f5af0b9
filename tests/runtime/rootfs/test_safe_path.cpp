#include "common/error.hpp"
#include "common/fd.hpp"
#include "rootfs_fixture.hpp"
#include "runtime/rootfs/safe_path.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using lcloud::Fd;
using lcloud::SystemError;
using lcloud::runtime::rootfs::ensure_directory_in_root;
using lcloud::runtime::rootfs::ensure_file_in_root;
using lcloud::runtime::rootfs::fd_path;
using lcloud::runtime::rootfs::open_in_root;
using lcloud::runtime::rootfs::open_in_root_if_exists;
using lcloud::test::rootfs::read_text;
using lcloud::test::rootfs::Sandbox;
using lcloud::test::rootfs::write_text;
namespace fs = std::filesystem;

namespace {

Fd open_root(const Sandbox& sandbox) {
    Fd root(::open(sandbox.rootfs().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(root);
    return root;
}

// The errno of the SystemError `action` throws, or 0.
template <typename Action> int error_of(Action action) {
    try {
        action();
    } catch (const SystemError& error) {
        return error.error_number();
    }
    return 0;
}

// Where `fd` really is, on the host.
fs::path where(const Fd& fd) {
    return fs::read_symlink(fd_path(fd.get()));
}

} // namespace

TEST_CASE("open_in_root resolves absolute symlinks and .. inside the root") {
    Sandbox sandbox;
    const Fd root = open_root(sandbox);
    fs::create_symlink(sandbox.host(), sandbox.rootfs() / "evil");
    fs::create_symlink("../../../../../../../.." + sandbox.host().string(),
                       sandbox.rootfs() / "etc/relative");

    CHECK_FALSE(open_in_root_if_exists(root.get(), "/evil/host-marker", O_RDONLY));
    CHECK_FALSE(open_in_root_if_exists(root.get(), "/etc/relative/host-marker", O_RDONLY));
    CHECK_FALSE(open_in_root_if_exists(
        root.get(), "/../../../../" + sandbox.host().string() + "/host-marker", O_RDONLY));
    CHECK(error_of([&] { open_in_root(root.get(), "/evil/host-marker", O_RDONLY); }) == ENOENT);

    fs::create_directories(sandbox.in_rootfs(sandbox.host()));
    write_text(sandbox.in_rootfs(sandbox.host()) / "host-marker", "inside\n");
    for (const char* path : {"/evil/host-marker", "etc/relative/host-marker"}) {
        INFO(path);
        const Fd file = open_in_root(root.get(), path, O_RDONLY);
        CHECK(where(file) == sandbox.in_rootfs(sandbox.host()) / "host-marker");
    }
    CHECK(read_text(sandbox.host() / "host-marker") == "host\n");
}

TEST_CASE("ensure_directory_in_root creates through a dangling symlink inside the root only") {
    Sandbox sandbox;
    const Fd root = open_root(sandbox);
    fs::create_symlink(sandbox.host() / "made", sandbox.rootfs() / "evil");

    const Fd made = ensure_directory_in_root(root.get(), "/evil/sub/deeper", 0755);
    CHECK(where(made) == sandbox.in_rootfs(sandbox.host()) / "made/sub/deeper");
    CHECK(fs::is_directory(sandbox.in_rootfs(sandbox.host()) / "made/sub/deeper"));
    CHECK_FALSE(fs::exists(sandbox.host() / "made"));

    const Fd climbed = ensure_directory_in_root(root.get(), "/../../a/../../b/./c/", 0755);
    CHECK(where(climbed) == sandbox.rootfs() / "b/c");

    // An existing directory comes back as it is, by the fast path.
    const Fd again = ensure_directory_in_root(root.get(), "/evil/sub", 0755);
    CHECK(where(again) == sandbox.in_rootfs(sandbox.host()) / "made/sub");
    const Fd top = ensure_directory_in_root(root.get(), "/", 0755);
    CHECK(where(top) == sandbox.rootfs());
}

TEST_CASE("ensure_file_in_root creates the file and its parents inside the root") {
    Sandbox sandbox;
    const Fd root = open_root(sandbox);
    fs::create_symlink(sandbox.host() / "resolv.conf", sandbox.rootfs() / "etc/resolv.conf");

    const Fd file = ensure_file_in_root(root.get(), "/etc/resolv.conf", 0644);
    CHECK(where(file) == sandbox.in_rootfs(sandbox.host()) / "resolv.conf");
    CHECK(fs::is_regular_file(sandbox.in_rootfs(sandbox.host()) / "resolv.conf"));
    CHECK_FALSE(fs::exists(sandbox.host() / "resolv.conf"));

    const Fd nested = ensure_file_in_root(root.get(), "/run/secrets/token", 0600);
    struct stat st {};
    REQUIRE(::stat((sandbox.rootfs() / "run/secrets/token").c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));

    CHECK(error_of([&] { ensure_file_in_root(root.get(), "/etc", 0644); }) == EISDIR);
    CHECK(error_of([&] { ensure_directory_in_root(root.get(), "/marker/sub", 0755); }) == ENOTDIR);
    CHECK(error_of([&] { ensure_file_in_root(root.get(), "/marker/sub", 0644); }) == ENOTDIR);
}

TEST_CASE("ensure_directory_in_root stops at a symlink loop") {
    Sandbox sandbox;
    const Fd root = open_root(sandbox);
    fs::create_symlink("/loop-b", sandbox.rootfs() / "loop-a");
    fs::create_symlink("/loop-a/x", sandbox.rootfs() / "loop-b");
    CHECK(error_of([&] { ensure_directory_in_root(root.get(), "/loop-a/sub", 0755); }) == ELOOP);
}
