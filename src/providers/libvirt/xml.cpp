#include "providers/libvirt/xml.hpp"

#include "providers/libvirt/errors.hpp"

#include <fmt/format.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <memory>

namespace lcloud::providers::libvirt {

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '\'':
            out += "&apos;";
            break;
        case '"':
            out += "&quot;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::vector<std::string> xml_select(const std::string& document, const std::string& xpath,
                                    const std::string& what) {
    std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc(
        xmlReadMemory(document.data(), static_cast<int>(document.size()), nullptr, nullptr,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING),
        xmlFreeDoc);
    if (!doc) throw LibvirtError(fmt::format("{}: libvirt's XML does not parse", what));
    std::unique_ptr<xmlXPathContext, decltype(&xmlXPathFreeContext)> context(
        xmlXPathNewContext(doc.get()), xmlXPathFreeContext);
    std::unique_ptr<xmlXPathObject, decltype(&xmlXPathFreeObject)> result(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath.c_str()), context.get()),
        xmlXPathFreeObject);
    std::vector<std::string> values;
    if (!result || !result->nodesetval) return values;
    for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
        std::unique_ptr<xmlChar, decltype(xmlFree)> text(
            xmlNodeGetContent(result->nodesetval->nodeTab[i]), xmlFree);
        values.emplace_back(text ? reinterpret_cast<const char*>(text.get()) : "");
    }
    return values;
}

} // namespace lcloud::providers::libvirt
