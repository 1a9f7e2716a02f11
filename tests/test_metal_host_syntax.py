"""The Metal backend's Objective-C++ host code (src/metal/*.mm) is built only on Apple
platforms; here clang checks it as a compiler would (-fsyntax-only: full semantic analysis
with ARC, C++20 and the portable headers it calls) against stand-in Foundation and Metal
headers (tests/metal_emu/objc_stub) that declare the SDK's API as Apple's headers do (on
macOS, against the real SDK instead). An undeclared name, a wrong selector or argument type,
or a mismatch with src/metal's portable headers fails here; what the stand-ins cannot show
(the SDK's exact declarations and availability, linking, running) is left to the macOS
workflow."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "tests" / "metal_emu" / "objc_stub"
SOURCES = sorted((ROOT / "src" / "metal").glob("*.mm"))
FLAGS = ["-x", "objective-c++", "-std=c++20", "-fobjc-arc", "-fblocks", "-fsyntax-only", "-Wall",
         "-Wextra", "-Wno-unused-parameter", "-Wno-nullability-completeness", "-Werror", f"-I{ROOT / 'src'}"]
if sys.platform != "darwin":  # the stand-ins, and the runtime Apple's clang assumes itself
    FLAGS += ["-fobjc-runtime=macosx-13.0", f"-I{STUB}"]
else:  # newer SDKs deprecate fastMathEnabled (for mathMode): not an error here
    FLAGS += ["-Wno-deprecated-declarations"]


def clang():
    for name in ("clang++", "clang++-18", "clang++-17", "clang++-16", "clang++-15", "clang++-14"):
        if shutil.which(name):
            return shutil.which(name)
    return None


pytestmark = pytest.mark.skipif(clang() is None, reason="no clang++ to check Objective-C++")


def test_every_host_file_is_checked():
    assert {p.name for p in SOURCES} == {"metal_backend.mm", "metal_device.mm", "metal_ops.mm"}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_host_code_compiles_against_the_sdk_declarations(source):
    r = subprocess.run([clang(), *FLAGS, str(source)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]


def test_the_check_catches_a_wrong_selector(tmp_path):
    bad = tmp_path / "bad.mm"
    bad.write_text((ROOT / "src" / "metal" / "metal_device.mm").read_text()
                   .replace("setBytes:block.data()", "setBytez:block.data()"))
    r = subprocess.run([clang(), *FLAGS, f"-I{ROOT / 'src' / 'metal'}", str(bad)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode != 0 and "setBytez" in r.stderr
