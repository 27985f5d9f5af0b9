// CVE-2019-5736: a container that gets the runtime to exec "#!/proc/self/exe" must not be able to
// overwrite the runtime's binary on the host through /proc/PID/exe.
#include "runtime/container/dmz.hpp"
#include "runtime/container/runtime_under_test.hpp"

#include <cerrno>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

using namespace lcloud::test;
namespace fs = std::filesystem;

namespace {

// Watches for a process whose exe is the runtime (its host file, or the dmz memfd), holds its
// exe open, and once it has exited writes through the descriptor, as the published exploit does.
constexpr const char* attacker = R"(
while :; do
  for exe in /proc/[0-9]*/exe; do
    target=$(readlink $exe 2>/dev/null) || continue
    case "$target" in
      *lcloud*|*memfd*)
        exec 3<$exe 2>/dev/null || continue
        echo "caught $target" >>/attack.log
        while [ -e ${exe%/exe} ]; do :; done
        if printf PWNED >/proc/self/fd/3 2>/dev/null; then echo wrote >>/attack.log
        else echo refused >>/attack.log; fi
        exec 3<&-
        ;;
    esac
  done
done
)";

} // namespace

TEST_CASE("escape: #!/proc/self/exe cannot overwrite the runtime binary (CVE-2019-5736)") {
    // A copy, so that a failing test cannot break the build's binary.
    TempDir host;
    const fs::path binary = host.path() / "lcloud-runtime";
    fs::copy_file(LCLOUD_RUNTIME_BINARY, binary);
    const std::string before = read_text(binary);
    RuntimeUnderTest runtime("lcloud-runtime", binary.string());

    BusyboxBundle bundle;
    std::ofstream(bundle.rootfs() / "bin/evil") << "#!/proc/self/exe\n";
    fs::permissions(bundle.rootfs() / "bin/evil", fs::perms(0755));
    bundle.set_args({"sh", "-c", attacker});
    bundle.write_config();
    const auto started =
        runtime.run_detached("run -d --bundle '" + bundle.path().string() + "' victim");
    REQUIRE_MESSAGE(started.exit_code == 0, started.output);

    // Many arguments make the dmz exec itself once per argument: a long window for the attacker.
    std::string arguments;
    for (int i = 0; i < 300; ++i)
        arguments += " a";
    const fs::path log = bundle.rootfs() / "attack.log";
    for (int attempt = 0; attempt < 40 && read_text(log).find("refused") == std::string::npos;
         ++attempt)
        runtime.run("exec victim /bin/evil" + arguments);
    CHECK(runtime.run("delete --force victim").exit_code == 0);

    const std::string attack = read_text(log);
    CAPTURE(attack);
    CHECK(attack.find("caught /memfd:lcloud-dmz") != std::string::npos); // the attack ran
    CHECK(attack.find("wrote") == std::string::npos);
    CHECK(attack.find("lcloud-runtime") == std::string::npos); // never the host binary
    CHECK(read_text(binary) == before);
}

TEST_CASE("the dmz memfd is sealed against writes, and runs programs") {
    const auto dmz = lcloud::runtime::make_dmz_memfd();
    const int seals = ::fcntl(dmz.get(), F_GET_SEALS);
    CHECK((seals & F_SEAL_WRITE) != 0);
    CHECK((seals & F_SEAL_SEAL) != 0);
    CHECK(::write(dmz.get(), "x", 1) == -1);
    const std::string self = "/proc/self/fd/" + std::to_string(dmz.get());
    CHECK(::open(self.c_str(), O_WRONLY | O_TRUNC) == -1);
    CHECK(errno == EPERM);
    // The dmz execs its first argument with the rest as argv.
    const std::string ours =
        "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(dmz.get());
    const auto result = run_command("'" + ours + "' /bin/echo echo through the dmz");
    CHECK(result.exit_code == 0);
    CHECK(result.output == "through the dmz\n");
}
