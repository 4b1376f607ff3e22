"""The command line sphinx-gallery gives each example (``reset_argv`` in conf.py)."""


def quick_argv(gallery_conf, script_vars):
    """``["--quick"]``: the gallery runs every example in its quick mode.

    Parameters
    ----------
    gallery_conf : dict
        sphinx-gallery's configuration.
    script_vars : dict
        The example being run (``src_file``...).

    Returns
    -------
    list of str
        The example's ``sys.argv[1:]``.
    """
    return ["--quick"]
