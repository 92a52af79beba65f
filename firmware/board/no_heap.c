/* For firmware, which never allocates: newlib's reentrancy support still
 * links malloc, and this _sbrk makes any call to it fail instead of growing
 * into the stack. */
void *_sbrk(int increment);
void *_sbrk(int increment) {
  (void)increment;
  return (void *)-1;
}
