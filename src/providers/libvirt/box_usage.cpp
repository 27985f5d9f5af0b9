#include "providers/libvirt/box_usage.hpp"

#include "providers/libvirt/connection.hpp"
#include "providers/libvirt/storage.hpp"

#include <algorithm>

namespace lcloud::providers::libvirt {

std::vector<std::string> domains_using_box(const std::string& uri, const box::Box& box) {
    std::vector<std::string> users;
    auto connection = connect(uri);
    virDomainPtr* domains = nullptr;
    const int count = virConnectListAllDomains(connection.get(), &domains, 0);
    for (int i = 0; i < count; ++i) {
        DomainHandle domain(domains[i]);
        const std::string name = virDomainGetName(domain.get());
        OwnedString xml(virDomainGetXMLDesc(domain.get(), VIR_DOMAIN_XML_INACTIVE));
        if (name.starts_with("lcloud-") && xml &&
            std::string_view(xml.get()).find(box.dir.string() + "/") != std::string_view::npos)
            users.push_back(name);
    }
    ::free(domains);
    // A disk box is used through its overlays ("<domain>-root.qcow2"), which its domain names.
    if (const auto disk = box.file("disk"))
        for (const auto& volume : volumes_backed_by(connection.get(), *disk)) {
            const auto domain = volume.substr(0, volume.rfind("-root.qcow2"));
            if (std::find(users.begin(), users.end(), domain) == users.end())
                users.push_back(domain);
        }
    return users;
}

std::vector<std::string> remove_volumes_of_box(const std::string& uri, const box::Box& box) {
    std::vector<std::string> removed;
    const auto disk = box.file("disk");
    if (!disk) return removed;
    auto connection = connect(uri);
    for (const auto& volume : volumes_backed_by(connection.get(), *disk)) {
        delete_volume(connection.get(), volume);
        removed.push_back(volume);
    }
    return removed;
}

} // namespace lcloud::providers::libvirt
