"""The speed of ``podseek transcribe``: its real-time factor on synthesized speech.

espeak-ng says a text of known words (about 30 s by default) into a WAV file; one episode
whose audio is that file goes into a temporary catalog, and the real stage transcribes it
with the packaged Whisper base (assembled once into the temporary workspace), ``--repeat``
times. Prints the audio length, the processing time and the real-time factor of each run
(audio seconds per second of decoding and recognition) with the CPU time it took (all
threads: what another process's load does not inflate), the word error rate against the
known text, and the process's peak memory.

``--episodes N`` puts N episodes with that audio in the catalog for each run, and ``--ray
ADDRESS`` transcribes them on a Ray cluster's actors (``local``: one started here, once, before
the runs); each run then also prints its wall time (actors' start and model loads included)
and the audio transcribed per wall second, the number to compare with one process.

    python benchmarks/transcribe_speed.py            # CPU, int8
    PODSEEK_DEVICE=cuda python benchmarks/transcribe_speed.py   # a GPU, float16
    python benchmarks/transcribe_speed.py --episodes 4 --repeat 2              # one process
    python benchmarks/transcribe_speed.py --episodes 4 --repeat 2 --ray local  # Ray actors
"""

import argparse
import contextlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from podseek.catalog.episode import Episode
from podseek.catalog.store import CatalogStore
from podseek.catalog.transcribe import (
    Transcriber,
    transcribe_catalog,
    whisper_device,
    whisper_model_folder,
)
from podseek.config import get_settings

TEXT = (
    "Welcome back to the kitchen show. Today we are making bread at home, and it is easier "
    "than you think. You need flour, water, salt and a little yeast. Mix them in a large bowl "
    "and let the dough rest for one hour. Then fold it a few times and shape it into a round "
    "loaf. Bake it in a hot oven for forty minutes, until the crust is dark and crisp. While "
    "the bread cools, we will make a simple tomato soup with garlic, onions and fresh basil. "
    "Thank you for listening, and see you next week."
)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference's length (lower case, letters only)."""
    ref, hyp = (re.findall(r"[a-z']+", text.lower()) for text in (reference, hypothesis))
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, heard in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != heard))
    return row[-1] / max(len(ref), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="transcriptions to time")
    parser.add_argument("--voice", default="en-us", help="espeak-ng voice")
    parser.add_argument("--episodes", type=int, default=1, help="episodes a run transcribes")
    parser.add_argument("--ray", metavar="ADDRESS", help="on a Ray cluster's actors")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: apt-get install espeak-ng (or make speech)")

    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="podseek-transcribe-") as folder:
        home = Path(folder)
        audio = home / "speech.wav"
        subprocess.run(["espeak-ng", "-v", args.voice, "-w", str(audio), TEXT], check=True)
        started = time.perf_counter()
        model = whisper_model_folder("base", home / "models")
        assembled = time.perf_counter() - started
        with contextlib.ExitStack() as stack:
            started = time.perf_counter()
            if args.ray:
                from podseek.scale.ray_jobs import RayOptions, RayTranscriber, connect

                options = RayOptions.from_settings(args.ray, settings)
                stack.enter_context(connect(options.address))  # once: the runs reuse it
                transcriber = RayTranscriber(model, options, home)
                print(
                    f"whisper base on ray {args.ray}: assembled in {assembled:.1f} s, "
                    f"cluster up in {time.perf_counter() - started:.1f} s"
                )
            else:
                device = whisper_device(settings.device, settings.half_precision)
                transcriber = Transcriber(model, device)
                print(
                    f"whisper base on {device.describe()}: assembled in {assembled:.1f} s, "
                    f"loaded in {time.perf_counter() - started:.1f} s"
                )
            factors, throughputs, text = _runs(args, home, audio, transcriber)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"median {statistics.median(factors):.1f}x real time, "
            f"{statistics.median(throughputs):.1f} s of audio per wall second; peak memory "
            f"{peak_mb:.0f} MB{' (this process)' if args.ray else ''}"
        )
        print(f"last transcript: {text}")


def _runs(
    args: argparse.Namespace, home: Path, audio: Path, transcriber: Any
) -> tuple[list[float], list[float], str]:
    """``--repeat`` runs of ``--episodes`` episodes each: their real-time factors, audio
    seconds per wall second, and the last run's first transcript."""
    factors: list[float] = []
    throughputs: list[float] = []
    text = ""
    with CatalogStore(home / "catalog.sqlite") as store:
        for run in range(args.repeat):
            ids = [f"bench:{run}:{n}" for n in range(args.episodes)]
            with store.write("bench") as batch:
                batch.delete([f"bench:{run - 1}:{n}" for n in range(args.episodes)])
                for episode_id in ids:
                    batch.upsert(
                        Episode(
                            id=episode_id,
                            source="bench",
                            episode_title="Bread",
                            audio_url=str(audio),
                            language="en",
                        )
                    )
            cpu = time.process_time()  # every thread's CPU time: what load cannot inflate
            summary = transcribe_catalog(store, transcriber, progress=False)
            cpu = time.process_time() - cpu
            assert summary.transcribed == args.episodes, summary.to_dict()
            text = " ".join(s.text for s in store.transcript(ids[0]) or [])
            factors.append(summary.real_time_factor)
            throughputs.append(summary.audio_seconds / summary.seconds)
            cpu_note = ""  # on Ray the work is the actors': this process's CPU time is not it
            if not args.ray:
                per_cpu = summary.audio_seconds / cpu
                cpu_note = f", {cpu:.2f} CPU s ({per_cpu:.1f} s of audio per CPU second)"
            print(
                f"run {run + 1}: {summary.audio_seconds:.1f} s of audio in "
                f"{summary.processing_seconds:.2f} s: {summary.real_time_factor:.1f}x real "
                f"time{cpu_note}; {summary.seconds:.2f} s wall, {throughputs[-1]:.1f} s of "
                f"audio per wall second ({summary.device}), WER {word_error_rate(TEXT, text):.1%}"
            )
    return factors, throughputs, text


if __name__ == "__main__":
    main()
