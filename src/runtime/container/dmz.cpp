#include "runtime/container/dmz.hpp"

#include "common/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lcloud::runtime {

namespace {

std::vector<char*> c_strings(const std::vector<std::string>& strings, const char* first = nullptr) {
    std::vector<char*> pointers;
    if (first) pointers.push_back(const_cast<char*>(first));
    for (const auto& text : strings)
        pointers.push_back(const_cast<char*>(text.c_str()));
    pointers.push_back(nullptr);
    return pointers;
}

} // namespace

Fd make_dmz_memfd() {
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
    // Kernels with vm.memfd_noexec want MFD_EXEC said; older ones refuse the flag.
    Fd memfd(static_cast<int>(
        ::syscall(SYS_memfd_create, "lcloud-dmz", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC)));
    if (!memfd && errno == EINVAL)
        memfd = Fd(::memfd_create("lcloud-dmz", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!memfd) throw_errno("create memfd for", "lcloud-dmz");
    if (::write(memfd.get(), dmz_binary.data(), dmz_binary.size()) !=
        static_cast<ssize_t>(dmz_binary.size()))
        throw_errno("write", "lcloud-dmz memfd");
    if (::fchmod(memfd.get(), 0555) != 0) throw_errno("chmod", "lcloud-dmz memfd");
    if (::fcntl(memfd.get(), F_ADD_SEALS,
                F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
        throw_errno("seal", "lcloud-dmz memfd");
    return memfd;
}

void exec_through_dmz(const Fd& dmz, const std::string& executable,
                      const std::vector<std::string>& args, const std::vector<std::string>& env) {
    const auto envp = c_strings(env);
    ::syscall(SYS_execveat, dmz.get(), "", c_strings(args, executable.c_str()).data(), envp.data(),
              AT_EMPTY_PATH);
    // A profile that allows execve but not execveat is the operator's choice, not the image's.
    if (errno == EPERM || errno == ENOSYS || errno == EACCES)
        ::execve(executable.c_str(), c_strings(args).data(), envp.data());
}

} // namespace lcloud::runtime
