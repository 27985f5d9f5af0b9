#pragma once

// A root file system tarball of Debian's busybox-static with every applet, for tests that
// import it as an image ("image import --rootfs").

#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lcloud::test {

class BusyboxTarball {
  public:
    BusyboxTarball() {
        namespace fs = std::filesystem;
        const fs::path root = dir_.path() / "root";
        for (const char* sub : {"bin", "etc", "tmp", "proc", "sys", "dev", "root", "srv", "var"})
            fs::create_directories(root / sub);
        fs::copy_file("/bin/busybox", root / "bin/busybox");
        const auto applets = run_command("/bin/busybox --list", true);
        std::istringstream lines(applets.output);
        for (std::string applet; std::getline(lines, applet);)
            if (!applet.empty() && applet != "busybox")
                fs::create_symlink("busybox", root / "bin" / applet);
#ifdef LCLOUD_UDP_ECHO_BINARY
        fs::copy_file(LCLOUD_UDP_ECHO_BINARY, root / "bin/udp-echo");
#endif
        std::ofstream(root / "etc/passwd")
            << "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n";
        std::ofstream(root / "etc/group") << "root:x:0:\nnogroup:x:65534:\n";
        const auto packed =
            run_command("tar -C " + root.string() + " -czf " + path().string() + " .");
        if (packed.exit_code != 0) throw std::runtime_error("tar: " + packed.output);
    }
    std::filesystem::path path() const {
        return dir_.path() / "busybox.tar.gz";
    }

  private:
    TempDir dir_;
};

} // namespace lcloud::test
