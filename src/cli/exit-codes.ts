export const EXIT_OK = 0;
/** A runtime failure (daemon unreachable, link needs re-auth, ...). */
export const EXIT_FAILURE = 1;
/** Bad usage or an invalid configuration. */
export const EXIT_USAGE = 2;
