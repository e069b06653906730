# Empty root so that parallel branches can each add their own 0002_* and be merged.
from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations: list = []
