"""Where live learning's CPU goes: the stages of ``learn --server`` timed one at a time,
in-process, against the same firehose server as ``grpc_throughput.py``.

Each stage reads ``--flows`` responses from a fresh stream and does a little more with each
than the one before; the CPU time of this process (every thread: grpcio's own included) per
response is printed, and the difference between rows is what the added step costs.

    python benchmarks/live_stages.py                 # 200k responses per stage
    python benchmarks/live_stages.py --profile add   # and a cProfile of one stage
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.grpc_throughput import pin, serialised_responses  # noqa: E402


def _options(port: str) -> Any:
    from collectors.stream_options import ServerOptions

    return ServerOptions(server=f"127.0.0.1:{port}")


def _take(call: Any, limit: int) -> int:
    """Read up to ``limit`` responses of ``call``; how many."""
    count = 0
    for _ in call:
        count += 1
        if count >= limit:
            break
    return count


def stage_raw(port: str, limit: int) -> int:
    """grpcio alone: each response as its bytes."""
    from collectors._proto.observer import observer_pb2
    from collectors.grpc_stream import channel_for
    from collectors.hubble.grpc import GET_FLOWS, FlowQuery, build_request

    channel = channel_for(_options(port))
    call = channel.unary_stream(
        GET_FLOWS, request_serializer=observer_pb2.GetFlowsRequest.SerializeToString
    )(build_request(FlowQuery(), None))
    count = _take(call, limit)
    call.cancel()
    channel.close()
    return count


def stage_wire(port: str, limit: int) -> int:
    """The stream read off its HTTP/2 connection (collectors/grpc_wire.py): each response as
    its bytes."""
    from collectors.grpc_wire import WireCall
    from collectors.hubble.grpc import GET_FLOWS, FlowQuery, build_request

    request = build_request(FlowQuery(), None).SerializeToString()
    call = WireCall(_options(port), None, GET_FLOWS, request)
    count = _take(call, limit)
    call.cancel()
    call.close()
    return count


def stage_decode(port: str, limit: int) -> int:
    """grpcio + the narrow protobuf decode of each response."""
    from collectors._proto.observer import observer_pb2
    from collectors.grpc_stream import channel_for
    from collectors.hubble.grpc import GET_FLOWS, FlowQuery, build_request
    from collectors.hubble.narrow import NarrowResponse

    channel = channel_for(_options(port))
    call = channel.unary_stream(
        GET_FLOWS,
        request_serializer=observer_pb2.GetFlowsRequest.SerializeToString,
        response_deserializer=NarrowResponse.FromString,
    )(build_request(FlowQuery(), None))
    count = _take(call, limit)
    call.cancel()
    channel.close()
    return count


def _stream(port: str) -> Any:
    from collectors.hubble.grpc import HubbleStream

    return HubbleStream(_options(port))


def _records(stream: Any) -> int:
    return int(stream.stats.records)


def stage_map(port: str, limit: int) -> int:
    """+ HubbleStream: mapping to Flow values, positions committed."""
    stream = _stream(port)
    for _ in stream.flows():
        if _records(stream) >= limit:
            stream.close()
    return _records(stream)


def _session(tmp: str) -> Any:
    from learner.app.session import LearningSession
    from learner.ingest.state import StateStore
    from learner.model.config import LearnConfig

    return LearningSession(StateStore(f"{tmp}/state.db"), LearnConfig())


def stage_normalize(port: str, limit: int) -> int:
    """+ normalisation."""
    from learner.ingest.normalize import normalize
    from learner.model.config import LearnConfig
    from learner.model.run_stats import NormalizeStats

    stream = _stream(port)
    for _ in normalize(stream.flows(), LearnConfig().normalize_options(), NormalizeStats()):
        if _records(stream) >= limit:
            stream.close()
    return _records(stream)


def _session_flows(session: Any, stream: Any) -> Iterator[Any]:
    """The stream's flows normalised as the session does, its drops and DNS answers noted."""
    from learner.ingest.normalize import normalize

    return normalize(
        stream.flows(),
        session.config.normalize_options(),
        session.normalized,
        on_denied=session.note_denied,
        on_answer=session.note_answers,
    )


def stage_add(port: str, limit: int) -> int:
    """+ the session (EdgeStore.add, DNS answers, denied flows) under the lock, with commits."""
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(tmp)
        stream = _stream(port)
        lock = threading.Lock()
        add, commit = session.add, stream.commit
        for flow in _session_flows(session, stream):
            with lock:
                add(flow)
                commit()
            if _records(stream) >= limit:
                stream.close()
        session.state.close()
    return _records(stream)


def stage_tally(port: str, limit: int) -> int:
    """The session as LiveLearner feeds it: repeats tallied by the stream, applied at the end."""
    from learner.model.repeats import Repeats

    with tempfile.TemporaryDirectory() as tmp:
        session = _session(tmp)
        stream = _stream(port)
        lock = threading.Lock()
        repeats = Repeats()
        stream.tally_repeats(repeats, lock)
        add, commit, settle, store = session.add, stream.commit, repeats.settle, session.store
        for flow in _session_flows(session, stream):
            with lock:
                settle(flow, add(flow), store)
                commit()
            if _records(stream) >= limit:
                stream.close()
        with lock:
            session.apply_repeats(repeats)
        session.state.close()
        states = Counter(tally.state.name for tally in repeats.entries.values())
        print(f"  (tallied {repeats.tallied:,} of {_records(stream):,}; keys {dict(states)})")
    return _records(stream)


def stage_live(port: str, limit: int) -> int:
    """The whole LiveLearner: + saves every 5 s and a proposal every 60 s."""
    from learner.app.live import LiveLearner, LiveSettings

    with tempfile.TemporaryDirectory() as tmp:
        session = _session(tmp)
        stream = _stream(port)
        learner = LiveLearner(
            session,
            stream,
            LiveSettings(output=f"{tmp}/out", collector="hubble", interval=60.0),
        )

        def watch() -> None:
            while _records(stream) < limit and not learner._stop.is_set():
                time.sleep(0.05)
            learner.stop()

        threading.Thread(target=watch, daemon=True).start()
        learner.run()
        session.state.close()
    return _records(stream)


STAGES: dict[str, Callable[[str, int], int]] = {
    "raw": stage_raw,
    "wire": stage_wire,
    "decode": stage_decode,
    "map": stage_map,
    "normalize": stage_normalize,
    "add": stage_add,
    "tally": stage_tally,
    "live": stage_live,
}


def serve(lines: int, scenario: str) -> Iterator[str]:
    blobs = serialised_responses(lines, scenario)
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "grpc_throughput.py"),
                "--serve",
                str(blobs),
                str(port_file),
            ]
        )
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.1)
            pin(server.pid, 0)
            yield port_file.read_text()
        finally:
            server.terminate()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=200_000)
    parser.add_argument("--lines", type=int, default=40_000)
    parser.add_argument("--scenario", default="realistic")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--profile", default="", help="a stage to run once more under cProfile")
    parser.add_argument("--repeat", type=int, default=1, help="runs per stage (the best is kept)")
    args = parser.parse_args()
    import collectors.hubble.grpc  # noqa: F401 - imports are not what we time
    import learner.app.live  # noqa: F401

    for port in serve(args.lines, args.scenario):
        pin(os.getpid(), 1)  # this process (every thread) on the other core
        stage_raw(port, 20_000)  # warm up: server, caches, imports
        previous = 0.0
        print(f"{'stage':<10} {'µs/flow':>8} {'+µs':>7} {'flows/CPU-s':>12}")
        for name in args.stages.split(","):
            best = float("inf")
            for _ in range(args.repeat):
                before = time.process_time()
                count = STAGES[name](port, args.flows)
                best = min(best, (time.process_time() - before) / count * 1e6)
            print(f"{name:<10} {best:8.1f} {best - previous:+7.1f} {1e6 / best:12,.0f}")
            previous = best
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            STAGES[args.profile](port, args.flows)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
