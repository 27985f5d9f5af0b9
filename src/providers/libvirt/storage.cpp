#include "providers/libvirt/storage.hpp"

#include "providers/libvirt/errors.hpp"
#include "providers/libvirt/handles.hpp"
#include "providers/libvirt/xml.hpp"

#include <fmt/format.h>

namespace lcloud::providers::libvirt {

namespace fs = std::filesystem;

namespace {

const char* pool_dir = "/var/lib/lcloud/pool";

PoolHandle open_pool(virConnectPtr connection) {
    PoolHandle pool(virStoragePoolLookupByName(connection, pool_name));
    if (!pool)
        ensure_pool(connection), pool.reset(virStoragePoolLookupByName(connection, pool_name));
    if (!pool) throw_libvirt(fmt::format("opening the storage pool {}", pool_name));
    return pool;
}

} // namespace

void ensure_pool(virConnectPtr connection) {
    PoolHandle pool(virStoragePoolLookupByName(connection, pool_name));
    if (!pool) {
        const auto xml = fmt::format("<pool type='dir'><name>{}</name><target><path>{}</path>"
                                     "<permissions><mode>0711</mode></permissions></target></pool>",
                                     pool_name, pool_dir);
        pool.reset(virStoragePoolDefineXML(connection, xml.c_str(), 0));
        if (!pool)
            throw_libvirt(fmt::format("defining the storage pool {} at {}", pool_name, pool_dir));
        if (virStoragePoolBuild(pool.get(), 0) != 0)
            throw_libvirt(
                fmt::format("making the directory {} of the pool {}", pool_dir, pool_name));
        virStoragePoolSetAutostart(pool.get(), 1);
    }
    if (virStoragePoolIsActive(pool.get()) != 1 && virStoragePoolCreate(pool.get(), 0) != 0) {
        const auto why = last_libvirt_error();
        if (virStoragePoolIsActive(pool.get()) != 1)
            throw_libvirt(fmt::format("starting the storage pool {}", pool_name), why);
    }
}

fs::path ensure_volume(virConnectPtr connection, const std::string& name, uint64_t capacity,
                       const fs::path& backing) {
    auto pool = open_pool(connection);
    VolumeHandle volume(virStorageVolLookupByName(pool.get(), name.c_str()));
    if (!volume) {
        // Another process may have added it to the directory; the pool learns of it on refresh.
        virStoragePoolRefresh(pool.get(), 0);
        volume.reset(virStorageVolLookupByName(pool.get(), name.c_str()));
    }
    if (!volume) {
        // qcow2 version 3 (compat 1.1): a version 2 image cannot mark a cluster as zeroes, so in
        // an overlay a cluster the guest zeroes or discards shows the backing file's old data.
        std::string xml = fmt::format("<volume><name>{}</name><capacity unit='bytes'>{}</capacity>"
                                      "<target><format type='qcow2'/><compat>1.1</compat>"
                                      "<permissions><mode>0600</mode></permissions></target>",
                                      xml_escape(name), capacity);
        if (!backing.empty())
            xml += fmt::format("<backingStore><path>{}</path><format type='qcow2'/></backingStore>",
                               xml_escape(backing.string()));
        xml += "</volume>";
        volume.reset(virStorageVolCreateXML(pool.get(), xml.c_str(), 0));
        if (!volume)
            throw_libvirt(fmt::format("creating the volume {} in the pool {}", name, pool_name));
    }
    OwnedString path(virStorageVolGetPath(volume.get()));
    if (!path) throw_libvirt(fmt::format("finding the path of the volume {}", name));
    return path.get();
}

bool volume_exists(virConnectPtr connection, const std::string& name) {
    PoolHandle pool(virStoragePoolLookupByName(connection, pool_name));
    if (!pool) return false;
    virStoragePoolRefresh(pool.get(), 0);
    return VolumeHandle(virStorageVolLookupByName(pool.get(), name.c_str())).get() != nullptr;
}

void delete_volume(virConnectPtr connection, const std::string& name) {
    PoolHandle pool(virStoragePoolLookupByName(connection, pool_name));
    if (!pool) return;
    VolumeHandle volume(virStorageVolLookupByName(pool.get(), name.c_str()));
    if (!volume) return;
    if (virStorageVolDelete(volume.get(), 0) != 0)
        throw_libvirt(fmt::format("deleting the volume {} from the pool {}", name, pool_name));
}

std::vector<std::string> volumes_with_prefix(virConnectPtr connection, const std::string& prefix) {
    std::vector<std::string> names;
    PoolHandle pool(virStoragePoolLookupByName(connection, pool_name));
    if (!pool) return names;
    virStoragePoolRefresh(pool.get(), 0);
    virStorageVolPtr* volumes = nullptr;
    const int count = virStoragePoolListAllVolumes(pool.get(), &volumes, 0);
    for (int i = 0; i < count; ++i) {
        VolumeHandle volume(volumes[i]);
        const std::string name = virStorageVolGetName(volume.get());
        if (name.starts_with(prefix)) names.push_back(name);
    }
    ::free(volumes);
    return names;
}

std::vector<std::string> volumes_backed_by(virConnectPtr connection, const fs::path& path) {
    std::vector<std::string> names;
    PoolHandle pool(virStoragePoolLookupByName(connection, pool_name));
    if (!pool) return names;
    virStorageVolPtr* volumes = nullptr;
    const int count = virStoragePoolListAllVolumes(pool.get(), &volumes, 0);
    for (int i = 0; i < count; ++i) {
        VolumeHandle volume(volumes[i]);
        OwnedString xml(virStorageVolGetXMLDesc(volume.get(), 0));
        if (!xml) continue;
        const auto backing = xml_select(xml.get(), "/volume/backingStore/path", "a volume");
        if (!backing.empty() && backing.front() == path.string())
            names.emplace_back(virStorageVolGetName(volume.get()));
    }
    ::free(volumes);
    return names;
}

} // namespace lcloud::providers::libvirt
