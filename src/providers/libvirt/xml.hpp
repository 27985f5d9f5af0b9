#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lcloud::providers::libvirt {

// Text and attribute values escaped for XML.
std::string xml_escape(std::string_view text);

// The string values an XPath expression selects in a document libvirt gave us (attributes,
// text), with libxml2. A document that does not parse is a LibvirtError naming `what`.
std::vector<std::string> xml_select(const std::string& document, const std::string& xpath,
                                    const std::string& what);

} // namespace lcloud::providers::libvirt
