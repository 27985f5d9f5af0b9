#pragma once

// The VM's 9p shares, as the containers bind them. QEMU refuses to save a VM (suspend, a
// snapshot) while any 9p mount lives, and a container's bind of a share is one, in its own
// mount namespace. So before a save the agent detaches those binds from each container, and
// after the resume it attaches them again at the same places.

#include "agent/protocol/spec.hpp"

#include <string>
#include <vector>

namespace lcloud::agent {

struct DetachedShare {
    std::string container;
    int pid = 0;
    std::string target; // in the container
    std::string source; // in the VM
    bool read_only = false;
};

// Detaches every 9p mount from the mount namespaces of these running containers; returns what
// it detached, with the source each came from by the container's spec (a 9p mount the spec
// does not name is detached all the same, and not attached again). Throws Error naming the
// container and errno when a detach fails.
std::vector<DetachedShare> detach_shares(const std::vector<ContainerStatus>& running);

// Attaches them again, in containers whose process is still `pid`; returns how many.
size_t attach_shares(const std::vector<DetachedShare>& detached);

} // namespace lcloud::agent
