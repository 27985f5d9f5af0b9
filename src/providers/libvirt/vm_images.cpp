#include "providers/libvirt/vm_images.hpp"

#include "providers/ssh_target.hpp"
#include "runtime/image/build/context_archive.hpp"
#include "runtime/image/errors.hpp"
#include "runtime/image/sha256.hpp"
#include "runtime/image/store.hpp"
#include "state/atomic_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace lcloud::providers::libvirt {

namespace fs = std::filesystem;

namespace {

// A file of this host's that goes when its owner does.
class HostTemp {
  public:
    explicit HostTemp(fs::path path) : path_(std::move(path)) {
        fd_ = Fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd_) throw_errno("create", path_.string());
    }
    ~HostTemp() {
        std::error_code ignored;
        fs::remove(path_, ignored);
    }
    HostTemp(const HostTemp&) = delete;
    HostTemp& operator=(const HostTemp&) = delete;
    const fs::path& path() const { return path_; }
    // The fd, at the start again (to read back what was written).
    int rewound() const {
        ::lseek(fd_.get(), 0, SEEK_SET);
        return fd_.get();
    }
    int fd() const { return fd_.get(); }

  private:
    fs::path path_;
    Fd fd_;
};

// What is uploaded into the VM goes again once used, whatever happened meanwhile.
class GuestTemp {
  public:
    GuestTemp(ssh::Session& session, std::string path)
        : session_(session), path_(std::move(path)) {}
    ~GuestTemp() {
        try {
            session_.capture("rm -rf " + path_);
        } catch (const std::exception& error) {
            spdlog::warn("removing {} in the VM: {}", path_, error.what());
        }
    }
    GuestTemp(const GuestTemp&) = delete;
    GuestTemp& operator=(const GuestTemp&) = delete;
    const std::string& path() const { return path_; }

  private:
    ssh::Session& session_;
    std::string path_;
};

// A name for one upload: unique enough among concurrent ups of one environment (which the
// environment lock forbids anyway).
std::string upload_name(const std::string& what) {
    std::string safe;
    for (const char c : what)
        safe += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    return fmt::format("{}/{}-{}", guest_upload_dir, safe, ::getpid());
}

} // namespace

VmImages::VmImages(SshEndpoint endpoint, fs::path state_dir, fs::path host_images,
                   std::string vm_name)
    : endpoint_(std::move(endpoint)), state_dir_(std::move(state_dir)),
      host_images_(std::move(host_images)), vm_name_(std::move(vm_name)) {}

ssh::Session& VmImages::session() {
    if (!session_) session_.emplace(ssh::Session::connect(ssh_target(endpoint_)));
    return *session_;
}

void VmImages::guest(const std::string& command, const std::string& what, int in_fd) {
    const auto result = in_fd >= 0 ? session().feed(command, in_fd) : session().capture(command);
    if (result.exit_code != 0)
        throw Error(fmt::format("{} in the VM {}: '{}' exited with {}: {}", what, vm_name_, command,
                                result.exit_code,
                                result.err.substr(0, result.err.find_last_not_of('\n') + 1)));
}

void VmImages::build(agent::AgentClient& agent, const engine::PlannedContainer& planned,
                     const nlohmann::json& params, const RunBuild& run,
                     const engine::Progress& progress) {
    namespace build = runtime::image::build;
    const auto& spec = *planned.build;
    const std::string& service = planned.spec.service;
    const std::string& tag = planned.spec.image;
    const HostTemp tar(state_dir_ / fmt::format("context-{}.tar", service));
    const auto packed = build::pack_context(spec.context, spec.context / spec.dockerfile, tar.fd());
    // The context's bytes and everything else the build is given.
    nlohmann::json rest = params;
    rest.erase("context");
    rest.erase("containerfile");
    const std::string key = runtime::image::sha256_digest(packed.digest + "\n" + rest.dump());

    const fs::path record_file = state_dir_ / "builds.json";
    const auto saved = state::read_file(record_file);
    auto record = saved ? nlohmann::json::parse(*saved, nullptr, false) : nlohmann::json::object();
    if (!record.is_object()) record = nlohmann::json::object();
    if (record.contains(service) && record[service].value("key", "") == key) {
        std::string current;
        try {
            current = agent.call("image.inspect", {{"name", tag}}).value("id", "");
        } catch (const agent::AgentError& error) {
            if (error.kind() == "connection") throw;
        }
        if (!current.empty() && current == record[service].value("image", "")) {
            spdlog::debug("{}: the context of {} did not change; not built again", service, tag);
            return;
        }
    }

    progress(fmt::format("carrying the build context of {} into the VM ({} files, {} KiB)", service,
                         packed.files, (packed.size + 1023) / 1024));
    const GuestTemp dir(session(), upload_name("context-" + service));
    guest(fmt::format("rm -rf {0} && mkdir -p {0} && tar -xf - -C {0}", dir.path()),
          "unpacking the build context of " + service, tar.rewound());
    nlohmann::json in_vm = params;
    in_vm["context"] = dir.path() + "/" + build::packed_context_dir;
    in_vm["containerfile"] = dir.path() + "/" + build::packed_containerfile;
    const std::string id = run(in_vm);
    record[service] = {{"key", key}, {"image", id}, {"tag", tag}};
    state::write_file_atomic(record_file, record.dump(2) + "\n");
}

bool VmImages::carry_image(agent::AgentClient& agent, const std::string& reference,
                           const engine::Progress& progress) {
    std::error_code missing;
    if (!fs::is_directory(host_images_, missing)) return false;
    const runtime::image::Store store(host_images_);
    try {
        store.inspect(reference);
    } catch (const runtime::image::ImageError& error) {
        spdlog::debug("{} in this host's store {}: {}", reference, host_images_.string(),
                      error.what());
        return false;
    }
    progress(fmt::format("copying {} from this host's image store into the VM", reference));
    const HostTemp archive(state_dir_ / "image-upload.tar");
    store.save(reference, archive.path());
    // save() renames its file into place: read it by name, not by the fd made before.
    const Fd file(::open(archive.path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) throw_errno("open", archive.path().string());
    const GuestTemp upload(session(), upload_name("image") + ".tar");
    guest(fmt::format("mkdir -p {} && cat > {}", guest_upload_dir, upload.path()),
          "uploading " + reference, file.get());
    agent.call("image.import", {{"path", upload.path()}, {"name", reference}});
    return true;
}

} // namespace lcloud::providers::libvirt
