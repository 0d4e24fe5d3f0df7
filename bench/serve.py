"""`tiss serve` under load: requests/s and latency, continuous batching on and off.

    python bench/serve.py [--quick] [--json]

A BPE tokenizer of 4,096 ids is trained on the example plans and docs, a
random TissLM of 6 layers, d_model 256 is saved, and `tiss serve` runs it
twice on loopback: with batching (``--max-batch 16``) and one request at a
time (``--max-batch 1``). At concurrency 1, 4 and 16, clients (threads, one
HTTP connection each) ask for 64-token completions (sampled, seeded,
``ignore_eos`` so every answer is 64 tokens). Printed: requests/s, p50 and
p95 latency per concurrency and mode, and ``batching_speedup_c16`` =
requests/s with batching / without, at concurrency 16 (target: >= 4).
Also the server's CPU milliseconds per request (Linux), and the c=16 ratio in
CPU time, ``batching_cpu_speedup_c16``: steadier than wall time when other
processes load the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKENS = 64
CONCURRENCY = (1, 4, 16)
PROMPT = 'TASK "bench" {\n    STEP "one" {\n'


def make_model(directory: Path) -> Path:
    """A random 6-layer, d 256 TissLM with a 4,096-id BPE tokenizer."""
    from model.checkpoint import save_model
    from model.config import ModelConfig
    from model.model import TissLM
    from model.tokenizer import Tokenizer

    texts = [p.read_text() for p in sorted((ROOT / "examples").glob("*.tiss"))]
    texts += [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))]
    tokenizer = Tokenizer.train(texts, 4096)
    tokenizer.save(directory / "tokenizer.json")
    model = TissLM(ModelConfig(vocab_size=tokenizer.vocab_size, context_length=128, n_layers=6,
                               d_model=256, n_heads=4), seed=0)
    return save_model(directory / "model", model, tokenizer_path=directory / "tokenizer.json")


class Server:
    """`tiss serve` in a child process, on a free loopback port."""

    def __init__(self, model_dir: Path, max_batch: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "serve", "--model", str(model_dir), "--port", "0",
             "--name", "bench", "--max-batch", str(max_batch), "--max-queue", "256"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("serving"):
            self.process.kill()
            raise SystemExit(f"tiss serve did not start: {line!r}")
        self.url = urlparse(line.split(" on ")[1].split()[0])

    def cpu_seconds(self) -> float | None:
        """CPU time the server has used so far (user + system; Linux only).
        Unlike wall time it hardly moves with other processes' load."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def ask(server: Server, connection: http.client.HTTPConnection, seed: int) -> float:
    """One 64-token completion; its latency in seconds."""
    body = json.dumps({"model": "bench", "prompt": PROMPT, "max_tokens": TOKENS, "temperature": 1.0,
                       "seed": seed, "ignore_eos": True})
    start = time.perf_counter()
    connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    elapsed = time.perf_counter() - start
    if response.status != 200 or answer["usage"]["completion_tokens"] != TOKENS:
        raise SystemExit(f"a request failed: {response.status} {answer}")
    return elapsed


def load(server: Server, concurrency: int, requests: int) -> dict:
    """``requests`` completions, ``concurrency`` at a time: rps, p50, p95,
    and the server's CPU milliseconds per request."""
    def client(worker: int) -> list[float]:
        connection = http.client.HTTPConnection(server.url.hostname, server.url.port, timeout=600)
        try:
            return [ask(server, connection, seed) for seed in range(worker, requests, concurrency)]
        finally:
            connection.close()

    cpu_before, start = server.cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(t for times in pool.map(client, range(concurrency)) for t in times)
    wall, cpu_after = time.perf_counter() - start, server.cpu_seconds()
    figures = {"rps": len(latencies) / wall, "p50_ms": 1000 * latencies[len(latencies) // 2],
               "p95_ms": 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
               "tokens_per_s": len(latencies) * TOKENS / wall}
    if cpu_before is not None and cpu_after is not None:
        figures["server_cpu_ms_per_request"] = 1000 * (cpu_after - cpu_before) / len(latencies)
    return figures


def run(quick: bool) -> dict:
    rounds = {1: 2, 4: 2, 16: 1} if quick else {1: 6, 4: 4, 16: 4}  # requests = rounds * concurrency
    figures: dict = {"tokens": TOKENS, "model": "6 layers, d_model 256, vocab 4096, random weights"}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model(Path(tmp))
        for mode, max_batch in (("batched", 16), ("one_at_a_time", 1)):
            server = Server(model_dir, max_batch)
            try:
                ask(server, http.client.HTTPConnection(server.url.hostname, server.url.port), 0)  # warm up
                for c in CONCURRENCY:
                    result = load(server, c, rounds[c] * c)
                    suffix = "" if mode == "batched" else "_one_at_a_time"
                    for key, value in result.items():
                        figures[f"{key}_c{c}{suffix}"] = value
            finally:
                server.close()
    figures["batching_speedup_c16"] = figures["rps_c16"] / figures["rps_c16_one_at_a_time"]
    figures["batching_speedup_c4"] = figures["rps_c4"] / figures["rps_c4_one_at_a_time"]
    if "server_cpu_ms_per_request_c16" in figures:  # the same ratio in CPU time: steadier under load
        figures["batching_cpu_speedup_c16"] = (figures["server_cpu_ms_per_request_c16_one_at_a_time"]
                                               / figures["server_cpu_ms_per_request_c16"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = run(args.quick)
    if args.json:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))
        return
    print(f"tiss serve, {figures['model']}, {TOKENS}-token completions")
    print(f"{'concurrency':>11}  {'batched rps':>11}  {'p50 ms':>8}  {'p95 ms':>8}  "
          f"{'1-at-a-time rps':>15}  {'p50 ms':>8}  {'p95 ms':>8}  {'speedup':>7}")
    for c in CONCURRENCY:
        one = f"_c{c}_one_at_a_time"
        print(f"{c:>11}  {figures[f'rps_c{c}']:>11.2f}  {figures[f'p50_ms_c{c}']:>8.0f}  "
              f"{figures[f'p95_ms_c{c}']:>8.0f}  {figures['rps' + one]:>15.2f}  "
              f"{figures['p50_ms' + one]:>8.0f}  {figures['p95_ms' + one]:>8.0f}  "
              f"{figures[f'rps_c{c}'] / figures['rps' + one]:>6.1f}x")
    print(f"batching_speedup_c16: {figures['batching_speedup_c16']:.2f}x (target >= 4x)")
    if "batching_cpu_speedup_c16" in figures:
        print(f"server CPU ms per request at c=16: {figures['server_cpu_ms_per_request_c16']:.0f} batched, "
              f"{figures['server_cpu_ms_per_request_c16_one_at_a_time']:.0f} one at a time "
              f"({figures['batching_cpu_speedup_c16']:.2f}x)")


if __name__ == "__main__":
    main()
