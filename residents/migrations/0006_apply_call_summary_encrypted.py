from django.db import migrations

import afxq_portal.crypto


def encrypt_and_remask(apps, schema_editor):
    """Existing summaries were stored in clear and masked with the narrower masks: mask again from the
    (encrypted) body and store encrypted. Read raw so a clear value is not fed to the decrypting field."""
    from afxq_portal.crypto import encrypt
    from afxq_portal.pii import mask_json_text

    ApplyAccessCall = apps.get_model("residents", "ApplyAccessCall")
    for pk, body in ApplyAccessCall.objects.values_list("pk", "body").iterator(chunk_size=500):
        summary = mask_json_text(body or "")[:2000]
        with schema_editor.connection.cursor() as cursor:
            table = schema_editor.quote_name(ApplyAccessCall._meta.db_table)
            cursor.execute(f"UPDATE {table} SET summary = %s WHERE id = %s", [encrypt(summary) if summary else "", pk])


class Migration(migrations.Migration):
    dependencies = [("residents", "0005_apply_call_queue")]

    operations = [
        migrations.AlterField(
            model_name="applyaccesscall", name="summary",
            field=afxq_portal.crypto.EncryptedTextField(blank=True, verbose_name="body (masked)"),
        ),
        migrations.RunPython(encrypt_and_remask, migrations.RunPython.noop),
    ]
