/* SPDX-License-Identifier: Apache-2.0 */
/* PVH entry of the test guests: 32-bit protected mode, %ebx = hvm_start_info. */
    .section .note.Xen, "a"
    .align 4
    .long 4                 /* name size: "Xen\0" */
    .long 4                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start
    .align 4

    .section .text.entry, "ax"
    .code32
    .global pvh_start
pvh_start:
    mov $stack_top, %esp
    push %ebx
    call guest_main
    push %eax
    call guest_exit
1:  hlt
    jmp 1b

    .section .bss
    .align 16
stack:
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
