#pragma once

#include "runtime/oci/config_json.hpp"
#include "runtime/oci/defaults.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace lcloud::test {

// An OCI bundle whose rootfs is Debian's busybox-static, with the default config of
// `lcloud-runtime spec`; tests adjust `config` and call write_config().
class BusyboxBundle {
  public:
    BusyboxBundle() {
        namespace fs = std::filesystem;
        const fs::path rootfs = this->rootfs();
        for (const char* dir : {"bin", "proc", "sys", "dev", "tmp", "etc", "root", "data"})
            fs::create_directories(rootfs / dir);
        fs::copy_file("/bin/busybox", rootfs / "bin/busybox");
        for (const char* applet : {"sh",       "true", "false", "cat",   "echo", "ls",    "sleep",
                                   "hostname", "id",   "ps",    "mount", "grep", "head",  "dd",
                                   "readlink", "seq",  "wc",    "touch", "stat", "mkdir", "env",
                                   "umount",   "test", "kill",  "pwd",   "ln",   "rm",    "tr"})
            fs::create_symlink("busybox", rootfs / "bin" / applet);
        std::ofstream(rootfs / "etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
        std::ofstream(rootfs / "etc/group") << "root:x:0:\n";
        config = runtime::oci::to_json(runtime::oci::default_spec());
        config["root"]["readonly"] = false;
        config["process"]["terminal"] = false;
    }

    const std::filesystem::path& path() const { return dir_.path(); }
    std::filesystem::path rootfs() const { return dir_.path() / "rootfs"; }

    void set_args(const std::vector<std::string>& args) { config["process"]["args"] = args; }
    void write_config() const { std::ofstream(path() / "config.json") << config.dump(2); }

    nlohmann::ordered_json config;

  private:
    TempDir dir_;
};

} // namespace lcloud::test
