# Writes a C++ file defining `NAME` (a std::string_view in namespace NAMESPACE, by default
# lcloud::runtime) with the bytes of INPUT.
# Run with: cmake -DINPUT=file -DOUTPUT=file.cpp -DNAME=identifier [-DNAMESPACE=ns] -P this-file
if(NOT NAMESPACE)
  set(NAMESPACE lcloud::runtime)
endif()
file(READ ${INPUT} _hex HEX)
string(LENGTH "${_hex}" _hex_length)
math(EXPR _size "${_hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
file(WRITE ${OUTPUT}.tmp
  "#include <string_view>\n\nnamespace ${NAMESPACE} {\n\n"
  "static const unsigned char ${NAME}_bytes[] = {${_bytes}};\n"
  "extern const std::string_view ${NAME}(reinterpret_cast<const char*>(${NAME}_bytes), ${_size});\n\n"
  "} // namespace ${NAMESPACE}\n")
file(RENAME ${OUTPUT}.tmp ${OUTPUT})
