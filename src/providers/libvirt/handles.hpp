#pragma once

// One owner for each libvirt handle, so that every path out of a function frees them.

#include <libvirt/libvirt.h>
#include <memory>

namespace lcloud::providers::libvirt {

template <typename T, int (*Free)(T)> struct HandleFree {
    void operator()(T handle) const {
        if (handle) Free(handle);
    }
};

using ConnectionHandle = std::unique_ptr<virConnect, HandleFree<virConnectPtr, virConnectClose>>;
using DomainHandle = std::unique_ptr<virDomain, HandleFree<virDomainPtr, virDomainFree>>;
using NetworkHandle = std::unique_ptr<virNetwork, HandleFree<virNetworkPtr, virNetworkFree>>;
using PoolHandle =
    std::unique_ptr<virStoragePool, HandleFree<virStoragePoolPtr, virStoragePoolFree>>;
using VolumeHandle =
    std::unique_ptr<virStorageVol, HandleFree<virStorageVolPtr, virStorageVolFree>>;
using SnapshotHandle =
    std::unique_ptr<virDomainSnapshot, HandleFree<virDomainSnapshotPtr, virDomainSnapshotFree>>;

// Strings libvirt hands over with malloc.
struct FreeString {
    void operator()(char* text) const { ::free(text); }
};
using OwnedString = std::unique_ptr<char, FreeString>;

} // namespace lcloud::providers::libvirt
