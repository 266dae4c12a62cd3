"""``python -m spark_smote``: the same as the ``spark-smote`` command."""

from spark_smote.cli import main

if __name__ == "__main__":
    main()
