"""spark-submit entry point: ``spark-submit jobs/smote_job.py --input ... --output ...``.

Takes the same arguments as the ``spark-smote`` command. Thin by design: all the work
is in the spark_smote package.
"""

from spark_smote.cli import main

if __name__ == "__main__":
    main()
