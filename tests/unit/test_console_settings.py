"""The command line's quiet Spark settings, merged with a configuration's (no JVM)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from spark_smote._console import quiet_spark_settings

OPTIONS = "spark.driver.extraJavaOptions"


def test_the_log_profile_goes_in_front_of_the_configured_java_options() -> None:
    settings = quiet_spark_settings({OPTIONS: "-XX:+UseParallelGC", "spark.log.level": "INFO"})
    profile, rest = settings[OPTIONS].split(" ", 1)
    assert rest == "-XX:+UseParallelGC"
    assert profile.startswith("-Dlog4j2.configurationFile=file:")
    assert Path(urlparse(profile.split("=", 1)[1]).path).is_file()  # shipped with the package
    assert settings["spark.log.level"] == "INFO"  # the configuration's value wins
    assert settings["spark.ui.showConsoleProgress"] == "false"


def test_a_log4j2_configuration_of_the_users_own_is_kept() -> None:
    own = "-Dlog4j2.configurationFile=/etc/spark/log4j2.properties -Xss4m"
    assert quiet_spark_settings({OPTIONS: own})[OPTIONS] == own
    assert quiet_spark_settings({})[OPTIONS].startswith("-Dlog4j2.configurationFile=")
