#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char buffer[16];
    char command[64];
    strcpy(buffer, argv[1]);
    sprintf(command, "ls %s", buffer);
    system(command);
    return 0;
}
