// The lcloud binary as a user runs it: exit codes, messages, files written.
#include "common/strings.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

namespace fs = std::filesystem;
using lcloud::test::lcloud_binary;
using lcloud::test::run_command;
using lcloud::test::TempDir;

namespace {

lcloud::test::CommandResult run_lcloud(const std::string& arguments, const fs::path& cwd = {},
                                       bool stdout_only = false) {
    const std::string cd = cwd.empty() ? "" : "cd '" + cwd.string() + "' && ";
    return run_command(cd + "NO_COLOR=1 '" + lcloud_binary() + "' " + arguments + " </dev/null",
                       stdout_only);
}

void write_file(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

} // namespace

TEST_CASE("version names lcloud and its libraries") {
    const auto result = run_lcloud("version");
    CHECK(result.exit_code == 0);
    CHECK(result.output.starts_with("lcloud " LCLOUD_VERSION "\n"));
    CHECK(result.output.find("\nlibvirt 9.") != std::string::npos);
    CHECK(result.output.find("\nlibssh 0.") != std::string::npos);
    CHECK(result.output.find("\nyaml-cpp 0.7") != std::string::npos);
    const auto json = nlohmann::json::parse(run_lcloud("version --json").output);
    CHECK(json.at("lcloud") == LCLOUD_VERSION);
}

TEST_CASE("usage errors exit 2, help exits 0 with an example") {
    CHECK(run_lcloud("").exit_code == 2);
    CHECK(run_lcloud("frobnicate").exit_code == 2);
    CHECK(run_lcloud("validate --bogus").exit_code == 2);
    const auto help = run_lcloud("validate --help");
    CHECK(help.exit_code == 0);
    CHECK(help.output.find("Example:") != std::string::npos);
    for (const char* command : {"init", "config", "version"})
        CHECK(run_lcloud(std::string(command) + " --help").output.find("Example") !=
              std::string::npos);
}

TEST_CASE("init writes a template, finds it from a subdirectory, refuses to overwrite") {
    TempDir dir;
    const auto init = run_lcloud("init --template localcloud cloud", dir.path());
    CHECK(init.exit_code == 0);
    CHECK(fs::is_regular_file(dir.path() / "cloud/lcloud.yaml"));
    CHECK(fs::is_regular_file(dir.path() / "cloud/images/haproxy/haproxy.cfg"));

    // Found from a subdirectory, as git finds .git; errors and paths name the file.
    const auto validate = run_lcloud("validate", dir.path() / "cloud/src");
    CHECK(validate.exit_code == 0);
    CHECK(validate.output == "ok\n");

    // Only up makes the state directory: a validate leaves nothing behind. Once there, it is
    // private, and every run adds its debug log to it.
    CHECK_FALSE(fs::exists(dir.path() / "cloud/.lcloud"));
    REQUIRE(::mkdir((dir.path() / "cloud/.lcloud").c_str(), 0755) == 0);
    CHECK(run_lcloud("validate", dir.path() / "cloud/src").exit_code == 0);
    struct stat info {};
    REQUIRE(::stat((dir.path() / "cloud/.lcloud").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0700);
    CHECK(fs::file_size(dir.path() / "cloud/.lcloud/log") > 0);

    write_file(dir.path() / "cloud/lcloud.yaml", "containers: {mine: {image: busybox}}\n");
    const auto again = run_lcloud("init --template localcloud cloud", dir.path());
    CHECK(again.exit_code == 1);
    CHECK(again.output.find("lcloud.yaml already exists; not overwriting it") != std::string::npos);
    std::ifstream kept(dir.path() / "cloud/lcloud.yaml");
    CHECK(std::string(std::istreambuf_iterator<char>(kept), {}) ==
          "containers: {mine: {image: busybox}}\n");

    CHECK(run_lcloud("init --template nosuch x", dir.path()).exit_code == 2);
    const auto list = run_lcloud("init --list");
    CHECK(list.output == "localcloud\nminimal\n");
}

TEST_CASE("validate prints every error with file:line:column and exits 1") {
    TempDir dir;
    write_file(dir.path() / "lcloud.yaml", "containers:\n  node:\n    image: busybox\n"
                                           "    port: [\"80:80\"]\n    memory: lots\n");
    const auto result = run_lcloud("validate", dir.path());
    CHECK(result.exit_code == 1);
    CHECK(result.output ==
          "lcloud.yaml:4:5: unknown key 'port' in container 'node'; did you mean 'ports'?\n"
          "lcloud.yaml:5:13: containers.node.memory: invalid size 'lots': expected a size such "
          "as 512MiB or 2GiB (a plain number is MiB; units: B, KiB, MiB, GiB, TiB)\n"
          "lcloud: error: the project file has 2 errors\n");

    const auto json = nlohmann::json::parse(run_lcloud("validate --json", dir.path(), true).output);
    CHECK(json.at("ok") == false);
    REQUIRE(json.at("diagnostics").size() == 2);
    CHECK(json.at("diagnostics")[0].at("line") == 4);
    CHECK(json.at("diagnostics")[0].at("column") == 5);
}

TEST_CASE("-f and -C name the project; no project is a clear error") {
    TempDir dir;
    write_file(dir.path() / "p/lcloud.yaml", "containers: {web: {image: busybox}}\n");
    CHECK(run_lcloud("-C '" + (dir.path() / "p").string() + "' validate").output == "ok\n");
    CHECK(run_lcloud("-f '" + (dir.path() / "p/lcloud.yaml").string() + "' validate").output ==
          "ok\n");
    const auto none = run_lcloud("validate", dir.path());
    CHECK(none.exit_code == 1);
    CHECK(none.output.find("no lcloud.yaml in " + dir.path().string()) != std::string::npos);
    CHECK(run_lcloud("-C /nonexistent-dir validate").exit_code == 2);
}

TEST_CASE("config resolves defaults, paths, variables, env files and .env") {
    TempDir dir;
    write_file(dir.path() / "lcloud.yaml",
               "containers:\n  web:\n    image: busybox:${TAG}\n    env_file: web.env\n"
               "    environment: {MODE: \"${MODE:-dev}\", FROM_FILE: override}\n"
               "    volumes: [\"./data:/data\"]\n");
    write_file(dir.path() / ".env", "TAG=1.36\nMODE=from-dotenv\n");
    write_file(dir.path() / "web.env", "FROM_FILE=file\nONLY_FILE=yes\n");
    // The process environment wins over .env, as in Compose.
    const auto result = run_lcloud("config --json", dir.path());
    REQUIRE(result.exit_code == 0);
    const auto config = nlohmann::json::parse(result.output);
    CHECK(config.at("name") == lcloud::to_lower(dir.path().filename().string()));
    CHECK(config.at("provider") == "libvirt");
    CHECK(config.at("vm").at("memory") == "2GiB");
    const auto& web = config.at("containers").at("web");
    CHECK(web.at("image") == "busybox:1.36");
    CHECK(web.at("environment").at("MODE") == "from-dotenv");
    CHECK(web.at("environment").at("FROM_FILE") == "override");
    CHECK(web.at("environment").at("ONLY_FILE") == "yes");
    CHECK(web.at("volumes")[0].at("source") == (dir.path() / "data").string());
    CHECK(web.at("stop_grace_period") == "10s");

    const auto overridden = run_command("cd '" + dir.path().string() + "' && MODE=shell '" +
                                        lcloud_binary() + "' config --json");
    CHECK(nlohmann::json::parse(overridden.output)["containers"]["web"]["environment"]["MODE"] ==
          "shell");

    const auto yaml = run_lcloud("config", dir.path());
    CHECK(yaml.exit_code == 0);
    CHECK(yaml.output.find("image: busybox:1.36") != std::string::npos);
}
