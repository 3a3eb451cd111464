"""Test kit shipped with ophysio: the conformance suite and writers of faithful synthetic sample files."""
