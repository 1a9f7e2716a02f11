"""The examples in docs/api.md run and print what the page says."""

import doctest
import pathlib
import re

import numpy as np

import tensorlogic as tl

API = pathlib.Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_api_examples():
    text = re.sub(r"^```.*$", "", API.read_text(), flags=re.M)  # fences end an example
    test = doctest.DocTestParser().get_doctest(text, {"tl": tl, "np": np}, "api.md", str(API), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 50
    assert result.failed == 0
