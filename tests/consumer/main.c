/* consumer/main.c — the smallest real use of an installed objmem. */
#include <objmem.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char *p = om_malloc(100);
    if (!p || !om_owns(p))
        return 1;
    strcpy(p, "objmem");
    om_block_info bi;
    if (om_block_describe(p, &bi) != 0 || bi.kind != OM_BLOCK_SMALL || bi.block_size != 112)
        return 2;
    om_free(p);
    printf("consumer ok: objmem %s (objmem.h %d.%d.%d)\n", om_version(), OM_VERSION_MAJOR, OM_VERSION_MINOR,
           OM_VERSION_PATCH);
    return 0;
}
