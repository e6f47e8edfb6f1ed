/* symbols_all.c - links every object of the library into one program (whole archive): a name defined twice
 * fails the link with "multiple definition". CTest runs check_symbols.sh on the archive beside it. */
int main(void)
{
    return 0;
}
