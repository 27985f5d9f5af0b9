# Compiles the files under templates/ into the binary, so `lcloud init` works wherever lcloud is.
file(GLOB_RECURSE LCLOUD_TEMPLATE_FILES CONFIGURE_DEPENDS
  LIST_DIRECTORIES false RELATIVE ${PROJECT_SOURCE_DIR}/templates ${PROJECT_SOURCE_DIR}/templates/*)
list(FILTER LCLOUD_TEMPLATE_FILES EXCLUDE REGEX "(^|/)\\.lcloud/")
list(SORT LCLOUD_TEMPLATE_FILES)
set(LCLOUD_TEMPLATES_CPP ${PROJECT_BINARY_DIR}/generated/templates_data.cpp)
set(_template_deps "")
foreach(_file ${LCLOUD_TEMPLATE_FILES})
  list(APPEND _template_deps ${PROJECT_SOURCE_DIR}/templates/${_file})
endforeach()
string(REPLACE ";" "|" _template_list "${LCLOUD_TEMPLATE_FILES}")
add_custom_command(
  OUTPUT ${LCLOUD_TEMPLATES_CPP}
  COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR}/templates
          "-DFILES=${_template_list}" -DOUTPUT=${LCLOUD_TEMPLATES_CPP}
          -P ${PROJECT_SOURCE_DIR}/cmake/embed_templates_script.cmake
  DEPENDS ${_template_deps} ${PROJECT_SOURCE_DIR}/cmake/embed_templates_script.cmake
  COMMENT "Embedding templates"
  VERBATIM)
