"""How far a model's int8 query copy strays from float32, on the hand-written queries.

The int8 query engine keeps a model's int8 ONNX copy only where its vectors of a few sample
queries stay within cosine 0.98 of the float32 copy's (``podseek.models.onnx_queries``).
This exports both copies of one model afresh (the int8 one unchecked, into a temporary
folder) and prints the cosines on the check's sample queries and on each half of the
hand-written set, English and not, so the check's verdict can be weighed against the
queries it stands for.

    PODSEEK_HOME=podseek-data python benchmarks/int8_agreement.py --model e5-small-pipeline
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from ensemble_weights import english
from zero_shot_quality import DEVSET

from podseek.beir import load_beir
from podseek.config import Settings
from podseek.models.onnx_queries import SAMPLE_QUERIES, export_onnx
from podseek.models.registry import resolve_model, trainable_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a built-in, trained model or folder")
    args = parser.parse_args()

    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = Settings()
    model, _ = trainable_model(resolve_model(args.model, settings.home), settings.home)
    prefix = model.prompts.get("query", "")
    with tempfile.TemporaryDirectory() as work:
        float_file = export_onnx(model, Path(work) / "float32.onnx", quantize=False)
        int8_file = Path(work) / "int8.onnx"
        # the engine's own quantisation (export_onnx), without its check
        quantize_dynamic(float_file, int8_file, weight_type=QuantType.QInt8, per_channel=True)
        sessions = [
            onnxruntime.InferenceSession(str(f), providers=["CPUExecutionProvider"])
            for f in (float_file, int8_file)
        ]

        def cosines(texts: list[str]) -> np.ndarray:
            features = model.preprocess(texts)
            found = []
            for session in sessions:
                feed = {n.name: features[n.name].numpy() for n in session.get_inputs()}
                vectors = session.run(None, feed)[0]
                found.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
            return (found[0] * found[1]).sum(axis=1)

        print(f"{args.model}: cosine of its int8 query vectors to float32's")
        print("| queries | n | mean | lowest |\n|---|---:|---:|---:|")
        rows = {"the check's samples": cosines(list(SAMPLE_QUERIES))}
        for split in ("dev", "test"):
            half = list(load_beir(DEVSET, split).queries.values())
            for label, wanted in (("English", True), ("other", False)):
                texts = [prefix + q for q in half if english(q) == wanted]
                rows[f"{split} half, {label}"] = cosines(texts)
        for label, values in rows.items():
            print(f"| {label} | {len(values)} | {values.mean():.3f} | {values.min():.3f} |")


if __name__ == "__main__":
    main()
