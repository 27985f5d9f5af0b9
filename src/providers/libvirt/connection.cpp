#include "providers/libvirt/connection.hpp"

#include "providers/libvirt/errors.hpp"

#include <fmt/format.h>
#include <libvirt/virterror.h>

namespace lcloud::providers::libvirt {

std::string last_libvirt_error() {
    const virErrorPtr error = virGetLastError();
    return error && error->message ? error->message : "unknown libvirt error";
}

void throw_libvirt(const std::string& what) {
    throw_libvirt(what, last_libvirt_error());
}

void throw_libvirt(const std::string& what, const std::string& message) {
    throw LibvirtError(fmt::format("{}: {}", what, message));
}

namespace {

void silence(void*, virErrorPtr) {}

} // namespace

ConnectionHandle connect(const std::string& uri) {
    virSetErrorFunc(nullptr, silence);
    ConnectionHandle connection(virConnectOpen(uri.c_str()));
    if (connection) return connection;
    const virErrorPtr error = virGetLastError();
    const std::string message = error && error->message ? error->message : "unknown error";
    const int code = error ? error->code : 0;
    if (code == VIR_ERR_AUTH_FAILED || code == VIR_ERR_AUTH_CANCELLED ||
        message.find("ermission denied") != std::string::npos)
        throw LibvirtUnavailable(fmt::format(
            "libvirt at {} refuses this user ({}); run lcloud as root, or add yourself to the "
            "'libvirt' group: sudo adduser $USER libvirt, then log in again",
            uri, message));
    throw LibvirtUnavailable(fmt::format(
        "cannot reach libvirt at {} ({}); start it: 'sudo systemctl start libvirtd', or where "
        "there is no systemd: 'mkdir -p /run/libvirt && virtlogd -d && libvirtd -d'",
        uri, message));
}

} // namespace lcloud::providers::libvirt
