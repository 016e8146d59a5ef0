# ctest -R consumer: install eoslab into a scratch prefix, then configure,
# build and run tests/consumer against it.
foreach(var EOS_BUILD_DIR EOS_SOURCE_DIR WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${EOS_BUILD_DIR}" --prefix "${WORK}/prefix"
                COMMAND_ERROR_IS_FATAL ANY OUTPUT_QUIET)
execute_process(COMMAND ${CMAKE_COMMAND} -S "${EOS_SOURCE_DIR}/tests/consumer" -B "${WORK}/build"
                        -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release
                        -DEOS_EXAMPLES_DIR=${EOS_SOURCE_DIR}/examples
                COMMAND_ERROR_IS_FATAL ANY OUTPUT_QUIET)
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK}/build" COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND "${WORK}/build/app" COMMAND_ERROR_IS_FATAL ANY)
foreach(example custom_model custom_plugin autodiff_tour)
  execute_process(COMMAND "${WORK}/build/${example}" COMMAND_ERROR_IS_FATAL ANY OUTPUT_QUIET)
endforeach()
# The Python module, where it was built, imports from the installed prefix
# and computes (without the build tree on its path).
file(GLOB _module "${WORK}/prefix/lib/python3/dist-packages/eoslab*.so")
if(_module)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${WORK}/prefix/lib/python3/dist-packages
                          /usr/bin/python3 -c "import eoslab; f = eoslab.Objective(toy='quadratic'); assert f.value(f.theta0) == 21.0, f.value(f.theta0); print(eoslab.__file__)"
                  COMMAND_ERROR_IS_FATAL ANY)
endif()
