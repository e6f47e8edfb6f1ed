# The runner (wcrun), the lab and the conformance scenarios, installed beside the programs with a pytest.ini
# and the shared conftest.py, and the `wirecheck` command that runs them:
#   PREFIX/bin/wirecheck                        sh: PYTHONPATH=PREFIX/share/wirecheck/python python3 -m wcrun
#   PREFIX/share/wirecheck/python/{wcrun,lab,conformance,interop,conftest.py,pytest.ini}
# wcrun/installed.json tells wcrun.paths that it is installed and where the programs are (relative to the python
# directory, so that `cmake --install --prefix P` and DESTDIR relocate the tree).
include(GNUInstallDirs)
set(WIRECHECK_PYDIR ${CMAKE_INSTALL_DATADIR}/wirecheck/python)
set(_wc_stage ${CMAKE_BINARY_DIR}/install-runner)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/tests/wcrun ${PROJECT_SOURCE_DIR}/tests/lab
                  ${PROJECT_SOURCE_DIR}/tests/conformance ${PROJECT_SOURCE_DIR}/tests/interop
        DESTINATION ${WIRECHECK_PYDIR} USE_SOURCE_PERMISSIONS
        PATTERN __pycache__ EXCLUDE
        REGEX "/lab/(test_[^/]*|conftest)\\.py$" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/tests/conftest.py DESTINATION ${WIRECHECK_PYDIR})

# pytest.ini: the checkout's markers and options, with the scenarios as the only test path.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/pytest.ini)
file(READ ${PROJECT_SOURCE_DIR}/tests/pytest.ini _wc_ini)
string(REGEX REPLACE "\ntestpaths *=[^\n]*" "\ntestpaths = conformance" _wc_ini "${_wc_ini}")
string(REGEX REPLACE "\n#[^\n]*" "\n# The installed scenarios: `wirecheck conformance` runs them (or /usr/bin/python3 -m pytest here)."
       _wc_ini "${_wc_ini}")
file(WRITE ${_wc_stage}/pytest.ini "${_wc_ini}")
install(FILES ${_wc_stage}/pytest.ini DESTINATION ${WIRECHECK_PYDIR})

# Relative paths between the bin and the python directories (absolute when either directory is).
function(_wc_rel out from to)
  if(IS_ABSOLUTE "${to}")
    set(${out} "${to}" PARENT_SCOPE)
  elseif(IS_ABSOLUTE "${from}")
    set(${out} "${CMAKE_INSTALL_PREFIX}/${to}" PARENT_SCOPE)
  else()
    file(RELATIVE_PATH r "/p/${from}" "/p/${to}")
    set(${out} "${r}" PARENT_SCOPE)
  endif()
endfunction()
_wc_rel(WIRECHECK_PY_TO_BIN ${WIRECHECK_PYDIR} ${CMAKE_INSTALL_BINDIR})
_wc_rel(WIRECHECK_BIN_TO_PY ${CMAKE_INSTALL_BINDIR} ${WIRECHECK_PYDIR})
file(WRITE ${_wc_stage}/installed.json
     "{\"bindir\": \"${WIRECHECK_PY_TO_BIN}\", \"version\": \"${PROJECT_VERSION}\"}\n")
install(FILES ${_wc_stage}/installed.json DESTINATION ${WIRECHECK_PYDIR}/wcrun)
configure_file(${PROJECT_SOURCE_DIR}/tests/install/wirecheck.sh.in ${_wc_stage}/wirecheck @ONLY)
install(PROGRAMS ${_wc_stage}/wirecheck DESTINATION ${CMAKE_INSTALL_BINDIR})
