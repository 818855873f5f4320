"""Monitoring points move from the devices app to communities. The table stays where it is
(``devices_monitoringpoint``): only Django's state moves, and the content type is relabelled so that
permissions given on points and the admin history of points are kept."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def relabel_content_type(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="devices", model="monitoringpoint").update(app_label="communities")


def restore_content_type(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="communities", model="monitoringpoint").update(app_label="devices")


class Migration(migrations.Migration):

    dependencies = [
        ("communities", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("devices", "0003_device_event_id"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="MonitoringPoint",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("police_point_id", models.CharField(max_length=64, unique=True, verbose_name="city point id (policePointId)")),
                        ("number", models.CharField(max_length=100, verbose_name="point number (点位编号)")),
                        ("provincial_name", models.CharField(blank=True, help_text="As on the provincial platform; must equal the point number character for character.", max_length=100, verbose_name="provincial point name (点位名称)")),
                        ("kind", models.CharField(choices=[("face_panel", "face panel (人脸门禁)"), ("face_snapshot", "face snapshot camera (人像抓拍)"), ("vehicle_snapshot", "vehicle snapshot camera (车辆抓拍)")], default="face_panel", max_length=20, verbose_name="kind")),
                        ("default_direction", models.CharField(choices=[("in", "in"), ("out", "out")], default="in", max_length=3, verbose_name="default direction")),
                        ("location", models.CharField(blank=True, max_length=200, verbose_name="location")),
                        ("community", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="points", to="communities.community", verbose_name="community")),
                    ],
                    options={
                        "verbose_name": "monitoring point",
                        "verbose_name_plural": "monitoring points",
                        "db_table": "devices_monitoringpoint",
                        "ordering": ["community", "number"],
                        "constraints": [models.UniqueConstraint(fields=("community", "number"), name="unique_point_number")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, restore_content_type),
    ]
