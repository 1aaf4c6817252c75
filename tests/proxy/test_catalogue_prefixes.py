"""The provider prefixes read from the catalogue file's bytes are the parsed catalogue's (LiteLLM's
own file, as installed)."""

from __future__ import annotations

from proxy.core import catalogue


def test_prefixes_from_the_bytes_equal_the_parsed_catalogues() -> None:
    parsed = {catalogue.provider_of(v).split("-")[0] for v in catalogue.catalogue().values()}
    assert len(parsed) > 50  # the real file, not an empty stand-in
    assert (
        catalogue.known_prefixes() == frozenset(p for p in parsed if p) | catalogue.EXTRA_PREFIXES
    )


def test_the_sample_entrys_prose_is_not_a_prefix() -> None:
    assert not any(" " in prefix for prefix in catalogue.known_prefixes())
