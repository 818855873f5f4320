"""Encryption at rest and masking of personal data (PIPL): encrypted columns never hold the clear value,
keyed hashes find and de-duplicate without it, and ID numbers and phones are masked in logs, including
exception tracebacks and a real Celery worker's log."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from afxq_portal.crypto import decrypt, encrypt, keyed_hash
from afxq_portal.pii import MaskPIIFilter, mask_id_card, mask_phone, mask_text
from communities.models import Guard
from tests.factories import GuardFactory, make_id_card

ID = make_id_card(321)
PHONE = "13812345678"
ANOTHER_KEY = Fernet.generate_key().decode()


def test_it_encrypts_with_a_fresh_nonce_and_decrypts():
    first, second = encrypt(ID), encrypt(ID)
    assert first != second  # Fernet: a random IV per value, so equal values do not look equal
    assert ID not in first
    assert decrypt(first) == decrypt(second) == ID


def test_it_refuses_to_decrypt_under_another_key():
    token = encrypt("secret")
    with override_settings(FIELD_ENCRYPTION_KEY=ANOTHER_KEY), pytest.raises(ValueError, match="cannot be"):
        decrypt(token)


@pytest.mark.parametrize("key", ["a", "another-key-entirely", "change-me-a-fernet-key-or-long-random-string", ""])
def test_it_refuses_to_encrypt_under_a_key_that_is_not_a_fernet_key(key: str) -> None:
    with override_settings(FIELD_ENCRYPTION_KEY=key), pytest.raises(ImproperlyConfigured, match="not a valid Fernet"):
        encrypt("secret")


def test_it_stores_encrypted_columns_encrypted(db):
    guard = GuardFactory(id_card=ID, phone=PHONE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_card, id_card_hash FROM communities_guard WHERE id = %s", [guard.pk])
        stored, stored_hash = cursor.fetchone()
    assert ID not in stored
    assert stored_hash == keyed_hash(ID)
    assert Guard.objects.get(pk=guard.pk).id_card == ID


def test_it_hashes_normalised_values_under_the_key():
    assert keyed_hash(ID[:17] + "x") == keyed_hash(f" {ID[:17]}X ")
    assert keyed_hash(ID) != keyed_hash(make_id_card(322))
    with override_settings(FIELD_ENCRYPTION_KEY=ANOTHER_KEY):
        other = keyed_hash(ID)
    assert other != keyed_hash(ID)  # no rainbow table across deployments


def test_it_masks_ids_and_phones():
    assert mask_id_card("510104199001011234") == "5101**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id_card("") == mask_phone(None) == ""
    assert mask_text(f"id={ID}, tel {PHONE}; order 12345678901234567890") == (
        f"id={ID[:4]}**********{ID[-4:]}, tel 138****5678; order 12345678901234567890")


def _log_through_filter(emit) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskPIIFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.pii")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_it_masks_log_messages_and_their_arguments():
    output = _log_through_filter(lambda log: log.warning("person %s phone %s", ID, PHONE))
    assert ID not in output and PHONE not in output
    assert f"{ID[:4]}**********{ID[-4:]}" in output and "138****5678" in output


def test_it_masks_exception_tracebacks_in_logs():
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError(f"bad person {ID} / {PHONE}")
        except ValueError:
            log.exception("import failed")

    output = _log_through_filter(emit)
    assert "Traceback" in output and "ValueError" in output
    assert ID not in output and PHONE not in output


@pytest.mark.integration
def test_it_masks_a_real_celery_workers_log(celery_worker):
    """Celery logs the whole message body of a task it does not know: the worker's log (its own
    logging setup, not Django's) must mask it too."""
    from afxq_portal.celery_app import app

    app.send_task("afxq_portal.no_such_task_for_pii_test", args=[ID, PHONE])
    celery_worker.wait_for_output("no_such_task_for_pii_test", timeout=60)
    celery_worker.wait_for_output("138****5678", timeout=30)
    output = celery_worker.output()
    assert ID not in output
    assert PHONE not in output


@pytest.mark.parametrize("name", ["", "django.request", "django.server", "celery", "celery.app.trace"])
def test_it_masks_every_handler_that_prints_requests_or_tasks(name: str):
    """Each logger's records end in handlers that mask (a request line can carry ?q=<ID number>)."""
    logger = logging.getLogger(name)
    handlers = []
    while logger is not None:
        # pytest's own capture handlers are not part of the deployment; a NullHandler prints nothing
        handlers += [h for h in logger.handlers
                     if not type(h).__module__.startswith("_pytest") and not isinstance(h, logging.NullHandler)]
        logger = logger.parent if logger.propagate else None
    assert handlers
    assert all(any(isinstance(f, MaskPIIFilter) for f in handler.filters) for handler in handlers), handlers
