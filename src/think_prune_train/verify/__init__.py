"""Ground truth: is a completion's answer right? One `grade` (verify.grading) for every verifier.

One module per answer format, each holding the code that writes and reads it:
- `numeric`: the number after `####` (GSM8K, chain_sum); the bottom of the package;
- `math`: LaTeX answers through math-verify, in worker processes with a deadline per answer;
- `code`: a code question's tests, and the code a completion gives; `judge` grades it with the
  candidate and the verdict in separate processes (`testplan` splits the tests, `plain` carries
  the candidate's results across as plain data), each in the box `sandbox` builds;
- `reasoning_gym`: the dataset's item, for its own `score_answer`.
`grading.grade` dispatches on `verifier.kind`; `gold.check_answers` refuses gold answers the
verifier cannot read. Prune and evaluate both call `grade`, so what training keeps and what
evaluation counts is judged the same way. This file imports nothing, so that a stage reading an
answer format (prepare) does not depend on the sandbox.
"""
