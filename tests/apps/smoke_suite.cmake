# End-to-end check of `lucid suite` + `lucid report` through the real binary and trainer:
# runs the bundled smoke suite (with AGENTS overriding its agent list), then reports on its folder
# and checks that the tables and figures exist. Invoked by ctest as
#   cmake -DLUCID=<lucid> -DSRC=<source dir> -DOUT=<scratch dir> -DAGENTS=<agents> -P smoke_suite.cmake
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${LUCID} suite --config ${SRC}/apps/configs/suites/smoke.yaml out_dir=${OUT}
                        agents=${AGENTS} jobs=2 train_args.threads=1
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lucid suite exited with ${rc}")
endif()
# A second invocation must find everything finished and run nothing.
execute_process(COMMAND ${LUCID} suite --config ${SRC}/apps/configs/suites/smoke.yaml out_dir=${OUT}
                        agents=${AGENTS} jobs=2 train_args.threads=1
                RESULT_VARIABLE rc OUTPUT_VARIABLE again)
if(NOT rc EQUAL 0 OR NOT again MATCHES "2 already finished")
  message(FATAL_ERROR "re-running a finished suite: exit ${rc}, output:\n${again}")
endif()
execute_process(COMMAND ${LUCID} report ${OUT}/smoke RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lucid report exited with ${rc}")
endif()
foreach(f per_task.csv per_task.json final_scores.csv aggregates.csv aggregates.json score_distribution.csv
          aggregates.svg score_distribution.svg curves_cartpole-swingup.svg curves_reacher-easy.svg index.html)
  if(NOT EXISTS ${OUT}/smoke/report/${f})
    message(FATAL_ERROR "lucid report did not write ${f}")
  endif()
endforeach()
