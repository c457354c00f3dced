"""The unit area's guard fires: each thing a unit test may not do is refused with where to go."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
from aws_cdk import App

from areas import NotAUnitTest


def test_a_child_process_is_refused() -> None:
    with pytest.raises(NotAUnitTest, match="start a process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_a_database_connection_is_refused() -> None:
    with pytest.raises(NotAUnitTest, match="connect to a database"):
        psycopg.connect("host=/nonexistent dbname=x")


def test_synthesis_is_refused() -> None:
    # Importing aws_cdk (at collection, above) started the jsii kernel; a construct is a call to it.
    with pytest.raises(NotAUnitTest, match="synthesize"):
        App()
