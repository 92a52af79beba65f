"""The demo's second half: runs every test digit through the host runner
build/bin/freeml_run (the C runtime as a program), and the TFLM interpreter,
and prints accuracy and agreement.

  .venv/bin/python examples/digits/run_demo.py --model-dir out/digits
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

from absl import app, flags

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from converter import datasets, tflm_oracle  # noqa: E402
from converter.evaluate import model_inputs  # noqa: E402
from tflm_freeml.runtime import Runtime  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model-dir", str(REPO / "out" / "digits"), "Converter output folder.")


def main(argv: List[str]) -> None:
  del argv
  model_dir = Path(FLAGS["model-dir"].value)
  model_path = model_dir / "model.tflite"
  model = model_path.read_bytes()
  details = Runtime(model).inputs[0]
  data = datasets.load_digits()
  x = model_inputs(data.x_test, details)
  interpreter = tflm_oracle.make_interpreter(model)
  runner = REPO / "build" / "bin" / "freeml_run"
  correct = identical = 0
  with tempfile.TemporaryDirectory() as tmp:
    in_path, out_path = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
    for i in range(len(x)):
      in_path.write_bytes(x[i].tobytes())
      subprocess.run([str(runner), str(model_path), "--input", str(in_path), "--output",
                      str(out_path)], check=True)
      ours = np.frombuffer(out_path.read_bytes(), np.int8)
      (tflm,) = tflm_oracle.invoke_on(interpreter, [x[i:i + 1]], 1)
      correct += int(np.argmax(ours) == data.y_test[i])
      identical += int(ours.tobytes() == tflm.tobytes())
  report = json.loads((model_dir / "report.json").read_text())
  print(f"\nfreeml_run on {len(x)} test digits: accuracy {100 * correct / len(x):.2f}%, "
        f"{identical}/{len(x)} outputs byte-identical to TFLM")
  print(f"model {report['model']['file_bytes']:,} B; runtime RAM "
        f"{report['runtime_ram']['total_bytes']:,} B vs TFLM arena "
        f"{report['tflm_arena_bytes']:,} B; C array in {model_dir}/model_data.c")
  if identical != len(x):
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
