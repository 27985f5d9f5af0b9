#pragma once

#include "agent/protocol/spec.hpp"
#include "runtime/image/oci.hpp"
#include "runtime/oci/config.hpp"

#include <filesystem>

namespace lcloud::agent {

// The files of one container under the agent's root.
struct ContainerPaths {
    std::filesystem::path dir;
    std::filesystem::path rootfs() const { return dir / "rootfs"; }
    std::filesystem::path upper() const { return dir / "upper"; }
    std::filesystem::path work() const { return dir / "work"; }
    std::filesystem::path record() const { return dir / "record.json"; }
    std::filesystem::path hosts() const { return dir / "hosts"; }
    std::filesystem::path resolv_conf() const { return dir / "resolv.conf"; }
    std::filesystem::path hostname() const { return dir / "hostname"; }
};

// The OCI config of a container made from `image` as `spec` says, as Docker would make it: the
// spec's entrypoint and command over the image's (a new entrypoint drops the image's command),
// the image's environment under the spec's, the user resolved in the container's own
// /etc/passwd and /etc/group, /etc/hosts, /etc/resolv.conf and /etc/hostname from `paths`, and
// the volumes (named ones under `volumes_root`). Throws Error naming the container when there
// is nothing to run or the user is unknown.
runtime::oci::Config make_container_config(const ContainerSpec& spec,
                                           const runtime::image::ImageConfig& image,
                                           const ContainerPaths& paths,
                                           const std::filesystem::path& volumes_root);

// The container's hostname: the spec's, else its service name (with "-N" for a replica).
std::string container_hostname(const ContainerSpec& spec);

} // namespace lcloud::agent
