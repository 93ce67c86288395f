"""Every secret libpq parameter (not only `password`) is masked wherever pgdba repeats a DSN."""

from __future__ import annotations

import pytest
from psycopg import pq

from pgdba.cli import main
from pgdba.target import mask_password
from tests.api.conftest import free_port

# the options libpq itself shows as secrets (dispchar "*"): password, sslpassword, oauth_client_secret, …
LIBPQ_SECRET_KEYWORDS = sorted(
    option.keyword.decode() for option in pq.Conninfo.get_defaults() if option.dispchar == b"*"
)


@pytest.mark.parametrize("keyword", LIBPQ_SECRET_KEYWORDS)
def test_every_secret_libpq_parameter_is_masked_in_uri_and_keyword_forms(keyword: str) -> None:
    uri = f"postgresql://u@h/db?sslmode=require&{keyword}=K3ySecret&connect_timeout=2: refused"
    assert (
        mask_password(uri) == f"postgresql://u@h/db?sslmode=require&{keyword}=***&connect_timeout=2: refused"
    )
    keywords = f"host=h {keyword}=K3ySecret user=u"
    assert mask_password(keywords) == f"host=h {keyword}=*** user=u"
    quoted = f"host=h {keyword}='K3y Secret': refused"
    assert mask_password(quoted) == f"host=h {keyword}=***: refused"


def test_the_secret_keywords_include_the_ssl_key_password() -> None:
    assert {"password", "sslpassword"} <= set(LIBPQ_SECRET_KEYWORDS)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://reader:Hunter2pw@127.0.0.1:{port}/shop?connect_timeout=2&sslpassword=K3ySecret",
        "host=127.0.0.1 port={port} dbname=shop user=reader sslpassword=K3ySecret password=Hunter2pw",
    ],
    ids=["uri", "keywords"],
)
def test_a_failed_connection_names_no_ssl_key_password(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["queries", "analyze", "--dsn", dsn.format(port=free_port())])  # nothing listens there
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("pgdba: error: cannot connect to")
    assert "sslpassword=***" in err
    assert "K3ySecret" not in err and "Hunter2pw" not in err
