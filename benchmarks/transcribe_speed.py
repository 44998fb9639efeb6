"""The speed of ``podseek transcribe``: its real-time factor on synthesized speech.

espeak-ng says a text of known words (about 30 s by default) into a WAV file; one episode
whose audio is that file goes into a temporary catalog, and the real stage transcribes it
with the packaged Whisper base (assembled once into the temporary workspace), ``--repeat``
times. Prints the audio length, the processing time and the real-time factor of each run
(audio seconds per second of decoding and recognition) with the CPU time it took (all
threads: what another process's load does not inflate), the word error rate against the
known text, and the process's peak memory.

    python benchmarks/transcribe_speed.py            # CPU, int8
    PODSEEK_DEVICE=cuda python benchmarks/transcribe_speed.py   # a GPU, float16
"""

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
        device = whisper_device(settings.device, settings.half_precision)
        started = time.perf_counter()
        transcriber = Transcriber(model, device)
        loaded = time.perf_counter() - started
        print(
            f"whisper base on {device.describe()}: assembled in {assembled:.1f} s, "
            f"loaded in {loaded:.1f} s"
        )
        factors = []
        with CatalogStore(home / "catalog.sqlite") as store:
            for run in range(args.repeat):
                with store.write("bench") as batch:
                    batch.delete([f"bench:{run - 1}"])
                    batch.upsert(
                        Episode(
                            id=f"bench:{run}",
                            source="bench",
                            episode_title="Bread",
                            audio_url=str(audio),
                            language="en",
                        )
                    )
                cpu = time.process_time()  # every thread's CPU time: what load cannot inflate
                summary = transcribe_catalog(store, transcriber, progress=False)
                cpu = time.process_time() - cpu
                assert summary.transcribed == 1, summary.to_dict()
                text = " ".join(s.text for s in store.transcript(f"bench:{run}") or [])
                factors.append(summary.real_time_factor)
                print(
                    f"run {run + 1}: {summary.audio_seconds:.1f} s of audio in "
                    f"{summary.processing_seconds:.2f} s: {summary.real_time_factor:.1f}x real "
                    f"time, {cpu:.2f} CPU s ({summary.audio_seconds / cpu:.1f} s of audio per "
                    f"CPU second), WER {word_error_rate(TEXT, text):.1%}"
                )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"median {statistics.median(factors):.1f}x real time; peak memory {peak_mb:.0f} MB")
        print(f"last transcript: {text}")


if __name__ == "__main__":
    main()
