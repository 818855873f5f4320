"""The devices' foreign keys now name ``communities.MonitoringPoint`` (same table); the model leaves
this app's state. No database change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("communities", "0002_monitoringpoint"),
        ("devices", "0003_device_event_id"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="device",
                    name="point",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="devices", to="communities.monitoringpoint", verbose_name="monitoring point"),
                ),
                migrations.AlterField(
                    model_name="deviceevent",
                    name="point",
                    field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="communities.monitoringpoint", verbose_name="monitoring point"),
                ),
                migrations.DeleteModel(name="MonitoringPoint"),
            ],
            database_operations=[],
        ),
    ]
