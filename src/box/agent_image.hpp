#pragma once

// lcloud-agent on a disk of its own: the box's agent.img, and the images `up` makes when this
// lcloud's agent is not the box's (so that a new lcloud needs no new box). Those are cached by
// the agent's digest in ${XDG_DATA_HOME:-~/.local/share}/lcloud/agents/<64 hex>.img.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace lcloud::box {

// Where the guest's init mounts the agent's disk.
inline constexpr const char* agent_mount = "/opt/lcloud";

// Copies `agent` (stripped of its debug sections) and its libraries into the empty directory
// `tree`, and packs that as an ext4 image at `image`.
void make_agent_image(const std::filesystem::path& agent, const std::filesystem::path& tree,
                      const std::filesystem::path& image);

// ${XDG_DATA_HOME:-~/.local/share}/lcloud/agents
std::filesystem::path agents_root();

// "sha256:…" of the agent program. A RelWithDebInfo agent is 130 MB, 0.4 s of CPU to hash: the
// digest is remembered (agents_root()/digests.json) by the file's path, inode, size and times.
std::string agent_digest(const std::filesystem::path& agent);

// The first line of `agent version` ("lcloud-agent 0.1.0 (protocol 1)").
std::string agent_version_line(const std::filesystem::path& agent);

// "0.1.0 (protocol 1) sha256:1443ed287257": the version alone does not tell two builds apart.
std::string describe_agent(const std::string& version_line, const std::string& digest);

// agents_root()/<64 hex>.img
std::filesystem::path agent_image_path(const std::string& digest);

// Cached images beyond the newest few (by last use) go, unless in use.
inline constexpr std::size_t agent_images_kept = 3;
using InUse = std::function<bool(const std::filesystem::path&)>;

// The cached image of `agent`, whose digest is `digest`: made when missing (in a temporary file
// renamed into place, so a killed run leaves no half-made image, only a temporary that the next
// run removes), marked as just used; then the cache is pruned. Throws BoxError.
std::filesystem::path ensure_agent_image(const std::filesystem::path& agent,
                                         const std::string& digest, const InUse& in_use,
                                         std::size_t keep = agent_images_kept);

// Removes what killed runs left, and the images beyond the `keep` most recently used that
// `in_use` does not claim; returns the removed images. Callers hold no lock: this takes it.
std::vector<std::filesystem::path> prune_agent_images(const InUse& in_use,
                                                      std::size_t keep = agent_images_kept);

} // namespace lcloud::box
