/* SPDX-License-Identifier: Apache-2.0 */
/* Linux boot protocol entries of the 64-bit test guest (Documentation/x86/boot.rst). Linked at
   16 MiB like a bzImage's protected-mode kernel: the 32-bit entry at +0, the 64-bit one at +0x200.
   No PVH note, so wisp enters the ELF at e_entry (= start64) with %rsi = boot_params. */
    .section .text.head, "ax"
    .code32
    .global start32
start32:
    /* The tests use the 64-bit entry; arriving here is a failure the test can see. */
    mov $0x3f8, %dx
    mov $'3', %al
    out %al, %dx
    mov $0xf4, %dx
    mov $32, %al
    out %al, %dx
1:  hlt
    jmp 1b

    .section .text.entry, "ax"
    .code64
    .global start64
start64:
    cli
    mov $stack_top, %rsp
    mov %rsi, %rbx              /* boot_params, callee-saved */
    /* A kernel clears its own bss; so does this one (not part of a bzImage's payload). */
    mov $__bss_start, %rdi
    mov $__bss_end, %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    mov %rbx, %rdi
    call linux_main
    mov %eax, %edi
    call guest_exit
2:  hlt
    jmp 2b

    .section .bss
    .align 16
stack:
    .skip 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
